"""NSGA-II: a genetic algorithm for several objectives (non-dominated sorting, crowding)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import (
    BaseSampler,
    ConstraintsFunc,
    check_constraints_func,
    evaluate_constraints,
)
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.space import BaseDistribution, CategoricalDistribution, SearchSpaceTransform
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


_CROSSOVERS = ("uniform", "sbx")
# Distribution indexes of SBX and polynomial mutation: how close children stay to parents.
_SBX_ETA = 15.0
_MUTATION_ETA = 20.0


def dominance_ranks(values: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Front index of each point (0 = non-dominated), every objective minimised.

    With ``violation`` (total constraint violation, 0 when feasible), a feasible
    point dominates an infeasible one and of two infeasible points the one that
    violates less dominates.
    """
    n = len(values)
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    dominates: np.ndarray = np.asarray(no_worse & better)
    if violation is not None:
        # Unless both are feasible, less violation wins (a feasible point violates 0).
        feasible = violation <= 0
        both_feasible = feasible[:, None] & feasible[None, :]
        dominates = np.where(both_feasible, dominates, violation[:, None] < violation[None, :])
    ranks = np.full(n, -1)
    n_dominators = dominates.sum(axis=0)
    front = np.flatnonzero(n_dominators == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        n_dominators = n_dominators - dominates[front].sum(axis=0)
        n_dominators[ranks >= 0] = -1
        front = np.flatnonzero(n_dominators == 0)
        rank += 1
    return ranks


def crowding_distances(values: np.ndarray) -> np.ndarray:
    """How isolated each point of one front is (infinite at the extremes)."""
    n, m = values.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(values[:, k], kind="stable")
        column = values[order, k]
        span = column[-1] - column[0]
        distance[order[[0, -1]]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def select_survivors(
    values: np.ndarray, violation: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the ``k`` best points by front then crowding, with their ranks and distances."""
    ranks = dominance_ranks(values, violation)
    distances = np.zeros(len(values))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        distances[members] = crowding_distances(values[members])
    # Lexicographic: lower rank first, then larger crowding distance, then position.
    order = np.lexsort((np.arange(len(values)), -distances, ranks))[:k]
    return order, ranks[order], distances[order]


class _Elite:
    """The parent population and its tournament scores."""

    def __init__(self, trials: list[FrozenTrial], ranks: np.ndarray, distances: np.ndarray):
        self.trials = trials
        self.ranks = ranks
        self.distances = distances

    def tournament(self, rng: np.random.Generator) -> FrozenTrial:
        """Binary tournament: the lower front wins, then the more isolated point."""
        i, j = rng.integers(len(self.trials), size=2)
        if (self.ranks[j], -self.distances[j]) < (self.ranks[i], -self.distances[i]):
            i = j
        return self.trials[i]


class NSGAIISampler(BaseSampler):
    """NSGA-II, the elitist non-dominated sorting genetic algorithm, for several objectives.

    Trials form generations by number: trials ``g * population_size`` to
    ``(g + 1) * population_size - 1`` are generation ``g``. Generation 0 is drawn
    at random. The parents of generation ``g`` are the best ``population_size``
    of the previous parents and generation ``g - 1``'s completed trials, ranked
    by non-dominated front and then crowding distance; each child crosses two
    tournament winners and mutates. Numeric parameters are crossed and mutated
    (polynomial mutation) in the unit cube, log scales and step grids included;
    categorical ones are crossed uniformly and mutated by a uniform random
    draw. Parameters that not every completed trial has are drawn at random.

    The parents of a trial follow from the trials that had completed when it
    started, so a sampler in a fresh process rebuilds them from the storage;
    each child's randomness is seeded by its trial number, so parallel workers
    get different children. Failed and pruned trials are left out. "When" is
    read from stored start and completion times, so the clocks of workers
    sharing a study should agree.

    Args:
        seed: Seed of the sampler; with the same seed and history, the same children.
        population_size: Trials per generation and parents kept.
        mutation_prob: Probability that a parameter of a child mutates;
            ``1 / number of parameters`` by default.
        crossover: ``"uniform"`` (each parameter from either parent) or ``"sbx"``
            (simulated binary crossover of numeric parameters, uniform for categorical).
        crossover_prob: Probability that a child is a crossover rather than a copy
            of its first parent (before mutation).
        swapping_prob: Probability that uniform crossover takes a parameter from the
            second parent.
        constraints_func: Constraint values of a finished trial, feasible when all
            are ``<= 0`` (for example read from its user attributes), as in Optuna:
            the study stores them in the trial's ``system_attrs["constraints"]``
            when it finishes. A feasible trial beats an infeasible one; of two
            infeasible ones, the one that violates less.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        constraints_func: ConstraintsFunc | None = None,
    ) -> None:
        _check_arguments(population_size, mutation_prob, crossover, crossover_prob, swapping_prob)
        check_constraints_func(constraints_func)
        self.seed = seed
        self.population_size = population_size
        self.mutation_prob = mutation_prob
        self.crossover = crossover
        self.crossover_prob = float(crossover_prob)
        self.swapping_prob = float(swapping_prob)
        self.constraints_func = constraints_func
        self._entropy = _entropy(seed)
        self._random = RandomSampler(seed=seed)
        self._violations: dict[tuple[str, int], float] = {}
        # Per generation: (candidates key, survivors) of the last rebuild, reused while unchanged.
        self._chain: list[tuple[tuple[int, ...], _Elite]] = []
        self._chain_study: str | None = None
        # The joint space of the trials seen at the last call, extended while they only grow.
        self._space: tuple[str, frozenset[int], dict[str, BaseDistribution]] | None = None

    def reseed_rng(self, seed: int | None = None) -> None:
        self._entropy = _entropy(seed)
        self._random.reseed_rng(seed)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if trial.number < self.population_size:
            return {}
        return self._joint_space(study, _completed_by(study, trial.datetime_start))

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        elite = self._parents(study, trial)
        if elite is None:
            return {}
        rng = np.random.default_rng(
            np.random.SeedSequence(self._entropy, spawn_key=(trial.number,))
        )
        first, second = elite.tournament(rng), elite.tournament(rng)
        return _Child(search_space, rng).breed(first, second, self)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return self._random.sample_independent(study, trial, name, distribution)

    def _joint_space(
        self, study: StudyView, done: list[FrozenTrial]
    ) -> dict[str, BaseDistribution]:
        """Intersection of the trials' spaces, computed only over trials not seen before."""
        numbers = frozenset(t.number for t in done)
        cached = self._space
        if cached is None or cached[0] != study.study_name or not cached[1] <= numbers:
            space = intersection_search_space(done)
        else:
            new = [t for t in done if t.number not in cached[1]]
            space = cached[2]
            if new:
                fresh = intersection_search_space(new)
                space = {k: v for k, v in space.items() if fresh.get(k) == v}
        self._space = (study.study_name, numbers, space)
        return dict(space)

    def _parents(self, study: StudyView, trial: FrozenTrial) -> _Elite | None:
        """The parent population of ``trial``'s generation, as of when it started."""
        generation = trial.number // self.population_size
        members: list[list[FrozenTrial]] = [[] for _ in range(generation)]
        for t in _completed_by(study, trial.datetime_start):
            if t.number // self.population_size < generation:
                members[t.number // self.population_size].append(t)
        if self._chain_study != study.study_name:
            self._chain, self._chain_study = [], study.study_name
        signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        elite: _Elite | None = None
        for g in range(generation):
            candidates = (elite.trials if elite is not None else []) + members[g]
            key = tuple(t.number for t in candidates)
            if g < len(self._chain) and self._chain[g][0] == key:
                elite = self._chain[g][1]
                continue
            del self._chain[g:]
            elite = self._select(study, candidates, signs)
            self._chain.append((key, elite))
        return elite if elite is not None and elite.trials else None

    def _select(self, study: StudyView, candidates: list[FrozenTrial], signs: np.ndarray) -> _Elite:
        values, violation = self._objectives(study, candidates, signs)
        order, ranks, distances = select_survivors(values, violation, self.population_size)
        return _Elite([candidates[i] for i in order], ranks, distances)

    def _objectives(
        self, study: StudyView, candidates: list[FrozenTrial], signs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The candidates' values, every objective minimised, and constraint violations."""
        values = np.array([t.values for t in candidates], dtype=float).reshape(-1, len(signs))
        violation = None
        if self.constraints_func is not None:
            violation = np.array([self._violation(study, t) for t in candidates], dtype=float)
        return values * signs, violation

    def _violation(self, study: StudyView, trial: FrozenTrial) -> float:
        """Total constraint violation of a finished trial (0 when feasible).

        Read from the values stored when it finished; a trial finished without
        them (another sampler's) is evaluated now, once.
        """
        assert self.constraints_func is not None
        stored = trial.constraint_violation
        if stored is not None:
            return stored
        key = (study.study_name, trial.number)
        if key not in self._violations:
            constraints = evaluate_constraints(self.constraints_func, trial)
            self._violations[key] = float(np.sum(np.maximum(constraints, 0.0)))
        return self._violations[key]


class _Child:
    """Crossover and mutation of two parents over one search space."""

    def __init__(self, space: dict[str, BaseDistribution], rng: np.random.Generator) -> None:
        self.rng = rng
        self.categorical = {
            k: v for k, v in space.items() if isinstance(v, CategoricalDistribution)
        }
        self.numeric = {k: v for k, v in space.items() if k not in self.categorical}
        self.transform = SearchSpaceTransform(self.numeric)

    def breed(
        self, first: FrozenTrial, second: FrozenTrial, sampler: NSGAIISampler
    ) -> dict[str, Any]:
        n_params = len(self.numeric) + len(self.categorical)
        mutation_prob = sampler.mutation_prob
        if mutation_prob is None:
            mutation_prob = 1.0 / max(1, n_params)
        x1, x2 = self.transform.encode(first.params), self.transform.encode(second.params)
        crossing = self.rng.random() < sampler.crossover_prob
        if not crossing:
            x = x1
        elif sampler.crossover == "sbx":
            x = _sbx(x1, x2, self.rng)
        else:
            x = np.where(self.rng.random(len(x1)) < sampler.swapping_prob, x2, x1)
        x = _polynomial_mutation(x, mutation_prob, self.rng)
        child = self.transform.decode(x)
        for name, dist in self.categorical.items():
            swap = crossing and self.rng.random() < sampler.swapping_prob
            value = (second if swap else first).params[name]
            if self.rng.random() < mutation_prob:
                value = dist.choices[int(self.rng.integers(len(dist.choices)))]
            child[name] = value
        return child


def _sbx(x1: np.ndarray, x2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One child of simulated binary crossover in ``[0, 1]^d`` (each axis crossed with p=1/2)."""
    low, high = np.minimum(x1, x2), np.maximum(x1, x2)
    gap = np.maximum(high - low, 1e-14)
    u = rng.random(len(x1))
    exponent = 1.0 / (_SBX_ETA + 1.0)

    def spread(room: np.ndarray) -> np.ndarray:
        # Bounded SBX: the spread factor's distribution is cut at the cube's faces.
        beta = 1.0 + 2.0 * room / gap
        alpha = 2.0 - beta ** -(_SBX_ETA + 1.0)
        inside = u <= 1.0 / alpha
        return np.where(
            inside,
            (u * alpha) ** exponent,
            (1.0 / np.maximum(2.0 - u * alpha, 1e-14)) ** exponent,
        )

    near = 0.5 * (low + high - spread(low) * (high - low))
    far = 0.5 * (low + high + spread(1.0 - high) * (high - low))
    child = np.where(rng.random(len(x1)) < 0.5, near, far)
    crossed = (rng.random(len(x1)) < 0.5) & (high - low > 1e-14)
    return np.clip(np.where(crossed, child, x1), 0.0, 1.0)


def _polynomial_mutation(x: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Polynomial mutation in ``[0, 1]^d``: each axis moves with probability ``prob``."""
    u = rng.random(len(x))
    power = _MUTATION_ETA + 1.0
    lower = (2 * u + (1 - 2 * u) * (1 - x) ** power) ** (1 / power) - 1
    upper = 1 - (2 * (1 - u) + 2 * (u - 0.5) * x**power) ** (1 / power)
    delta = np.where(u < 0.5, lower, upper)
    mutate = rng.random(len(x)) < prob
    return np.clip(np.where(mutate, x + delta, x), 0.0, 1.0)


def _completed_by(study: StudyView, start: dt.datetime | None) -> list[FrozenTrial]:
    """Completed trials that had finished when ``start`` came, by number."""
    return [
        t
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        if t.datetime_complete is not None and (start is None or t.datetime_complete <= start)
    ]


def _entropy(seed: int | None) -> int:
    return int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _check_arguments(
    population_size: int,
    mutation_prob: float | None,
    crossover: str,
    crossover_prob: float,
    swapping_prob: float,
) -> None:
    if (
        isinstance(population_size, bool)
        or not isinstance(population_size, int)
        or population_size < 2
    ):
        raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
    if mutation_prob is not None and not _is_probability(mutation_prob):
        raise ValueError(f"mutation_prob must be in [0, 1] or None, got {mutation_prob!r}")
    if crossover not in _CROSSOVERS:
        raise ValueError(f"crossover must be one of {list(_CROSSOVERS)}, got {crossover!r}")
    for name, value in (("crossover_prob", crossover_prob), ("swapping_prob", swapping_prob)):
        if not _is_probability(value):
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
