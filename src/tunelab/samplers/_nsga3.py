"""NSGA-III: NSGA-II with survivors chosen by niching around reference directions.

Deb and Jain (2014), "An evolutionary many-objective optimization algorithm
using reference-point-based nondominated sorting approach". With many
objectives almost every point is non-dominated and crowding distance stops
telling points apart; NSGA-III keeps the last front's survivors spread
instead by giving each of a set of reference directions its share.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import ConstraintsFunc
from tunelab.samplers._nsga2 import NSGAIISampler, _Elite, dominance_ranks

if TYPE_CHECKING:
    from tunelab.study import StudyView
    from tunelab.trial import FrozenTrial

# Off-axis weight of the achievement scalarising function that finds extreme points.
_ASF_EPS = 1e-6
# Below this an intercept of the normalising hyperplane counts as degenerate.
_MIN_INTERCEPT = 1e-10


def das_dennis_points(n_objectives: int, divisions: int) -> np.ndarray:
    """Every point of the unit simplex whose coordinates are multiples of ``1 / divisions``.

    There are ``C(n_objectives + divisions - 1, divisions)`` of them, spread
    evenly over the simplex (Das and Dennis' structured reference points).
    """
    rows = []
    # Stars and bars: the positions of n_objectives - 1 bars among divisions stars.
    for bars in itertools.combinations(range(divisions + n_objectives - 1), n_objectives - 1):
        edges = np.array((-1, *bars, divisions + n_objectives - 1))
        rows.append(np.diff(edges) - 1)
    return np.array(rows, dtype=float).reshape(-1, n_objectives) / divisions


def normalize(values: np.ndarray) -> np.ndarray:
    """Objective values translated to an ideal point of 0 and scaled by the hyperplane's intercepts.

    The hyperplane passes through the extreme point of each axis (the one
    closest to it by the achievement scalarising function); when it is
    degenerate, each objective is scaled by its range instead.
    """
    finite = np.where(np.isfinite(values), values, np.nan)
    low = np.nan_to_num(np.nanmin(finite, axis=0, initial=np.inf), posinf=0.0)
    high = np.nan_to_num(np.nanmax(finite, axis=0, initial=-np.inf), neginf=0.0)
    # Infinite values sit at the finite extremes, so the rest keeps its geometry.
    shifted = np.clip(values, low, high) - low
    m = values.shape[1]
    weights = np.full((m, m), _ASF_EPS)
    np.fill_diagonal(weights, 1.0)
    asf = (shifted[None, :, :] / weights[:, None, :]).max(axis=2)
    extremes = shifted[asf.argmin(axis=1)]
    try:
        intercepts = 1.0 / np.linalg.solve(extremes, np.ones(m))
        degenerate = not np.all(np.isfinite(intercepts)) or bool(
            np.any(intercepts < _MIN_INTERCEPT)
        )
    except np.linalg.LinAlgError:
        degenerate = True
    if degenerate:
        intercepts = shifted.max(axis=0)
    intercepts = np.where(intercepts > _MIN_INTERCEPT, intercepts, 1.0)
    normalized: np.ndarray = shifted / intercepts
    return normalized


def associate(points: np.ndarray, reference_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest reference line (through the origin) and its distance to it."""
    unit = reference_points / np.linalg.norm(reference_points, axis=1, keepdims=True)
    along = points @ unit.T
    squared = (points**2).sum(axis=1)[:, None] - along**2
    distance = np.sqrt(np.maximum(squared, 0.0))
    nearest = distance.argmin(axis=1)
    return nearest, distance[np.arange(len(points)), nearest]


def niching(
    kept: np.ndarray,
    nearest: np.ndarray,
    distance: np.ndarray,
    n_pick: int,
    n_references: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Which ``n_pick`` of the last front's points survive.

    Args:
        kept: Nearest reference of each point already kept (the better fronts).
        nearest: Nearest reference of each point of the last front.
        distance: Each last-front point's distance to its reference line.
        n_pick: How many of them survive (fewer than there are).
        n_references: Number of reference directions.
        rng: Breaks ties.

    Returns:
        Indices into the last front, in the order they were picked.
    """
    counts = np.bincount(kept, minlength=n_references)
    open_refs = np.zeros(n_references, dtype=bool)
    open_refs[nearest] = True
    left = np.ones(len(nearest), dtype=bool)
    picked: list[int] = []
    while len(picked) < n_pick:
        # The least represented direction that still has a candidate gets the next place.
        candidates = np.flatnonzero(open_refs)
        lowest = candidates[counts[candidates] == counts[candidates].min()]
        ref = int(rng.choice(lowest))
        members = np.flatnonzero(left & (nearest == ref))
        if not members.size:
            open_refs[ref] = False
            continue
        if counts[ref] == 0:
            choice = int(members[distance[members].argmin()])
        else:
            choice = int(rng.choice(members))
        picked.append(choice)
        left[choice] = False
        counts[ref] += 1
    return np.array(picked, dtype=int)


def select_survivors_nsga3(
    values: np.ndarray,
    violation: np.ndarray | None,
    k: int,
    reference_points: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k`` survivors (whole fronts, then niching in the last one) and their ranks.

    Every objective is minimised; ``violation`` is as in
    :func:`~tunelab.samplers._nsga2.dominance_ranks`.
    """
    ranks = dominance_ranks(values, violation)
    if k >= len(values):
        order = np.argsort(ranks, kind="stable")
        return order, ranks[order]
    by_rank = np.sort(ranks)
    last_rank = by_rank[k - 1]
    kept = np.flatnonzero(ranks < last_rank)
    last = np.flatnonzero(ranks == last_rank)
    if len(kept) + len(last) == k:
        chosen = np.concatenate([kept, last])
    else:
        members = np.concatenate([kept, last])
        nearest, distance = associate(normalize(values[members]), reference_points)
        picked = niching(
            nearest[: len(kept)],
            nearest[len(kept) :],
            distance[len(kept) :],
            k - len(kept),
            len(reference_points),
            rng,
        )
        chosen = np.concatenate([kept, last[picked]])
    return chosen, ranks[chosen]


class NSGAIIISampler(NSGAIISampler):
    """NSGA-III, the reference-point based genetic algorithm for many objectives.

    Generations, parents' crossover and mutation, constraints and the
    rebuilding of parents from the storage are :class:`NSGAIISampler`'s; only
    the survivors differ. Whole non-dominated fronts survive while they fit;
    of the front that does not fit, points are taken one at a time for the
    reference direction that has the fewest survivors so far (closest to the
    line first), after translating the objectives to an ideal point of 0 and
    scaling them by the intercepts of the hyperplane through the extreme
    points. Parents are picked by tournament on their front alone.

    Args:
        population_size: Trials per generation and parents kept; about the
            number of reference points or more.
        mutation_prob: Probability that a parameter of a child mutates;
            ``1 / number of parameters`` by default.
        crossover: ``"uniform"`` or ``"sbx"`` (see :class:`NSGAIISampler`).
        crossover_prob: Probability that a child is a crossover rather than a copy.
        swapping_prob: Probability that uniform crossover takes a parameter from
            the second parent.
        seed: Seed of the sampler; with the same seed and history, the same children.
        constraints_func: As in :class:`NSGAIISampler`.
        reference_points: Reference directions, one row per point and one
            column per objective, in the normalised objective space (each
            objective minimised, 0 at the ideal, about 1 at the extreme);
            Das and Dennis' points on the unit simplex by default.
        dividing_parameter: Divisions of each axis for the default reference
            points: ``C(n_objectives + dividing_parameter - 1,
            dividing_parameter)`` points.
        elite_population_selection_strategy: Not supported (Optuna's hook to
            replace survivor selection); must be None.
        child_generation_strategy: Not supported; must be None.
        after_trial_strategy: Not supported; must be None.

    Raises:
        ValueError: An argument is out of range, or a strategy hook was given.
    """

    def __init__(
        self,
        *,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        seed: int | None = None,
        constraints_func: ConstraintsFunc | None = None,
        reference_points: Sequence[Sequence[float]] | np.ndarray | None = None,
        dividing_parameter: int = 3,
        elite_population_selection_strategy: Callable[..., Any] | None = None,
        child_generation_strategy: Callable[..., Any] | None = None,
        after_trial_strategy: Callable[..., Any] | None = None,
    ) -> None:
        for name, hook in (
            ("elite_population_selection_strategy", elite_population_selection_strategy),
            ("child_generation_strategy", child_generation_strategy),
            ("after_trial_strategy", after_trial_strategy),
        ):
            if hook is not None:
                raise ValueError(
                    f"NSGAIIISampler({name}=...) is not supported: tunelab's NSGA-III selects "
                    "by reference points and breeds as NSGAIISampler does; leave it None"
                )
        if (
            isinstance(dividing_parameter, bool)
            or not isinstance(dividing_parameter, int)
            or dividing_parameter < 1
        ):
            raise ValueError(
                f"dividing_parameter must be an integer >= 1, got {dividing_parameter!r}"
            )
        super().__init__(
            seed=seed,
            population_size=population_size,
            mutation_prob=mutation_prob,
            crossover=crossover,
            crossover_prob=crossover_prob,
            swapping_prob=swapping_prob,
            constraints_func=constraints_func,
        )
        self.reference_points = _check_reference_points(reference_points)
        self.dividing_parameter = dividing_parameter

    def _select(self, study: StudyView, candidates: list[FrozenTrial], signs: np.ndarray) -> _Elite:
        values, violation = self._objectives(study, candidates, signs)
        references = self.reference_points
        if references is None:
            references = das_dennis_points(len(signs), self.dividing_parameter)
        elif references.shape[1] != len(signs):
            raise ValueError(
                f"reference_points must have one column per objective ({len(signs)}), "
                f"got {references.shape[1]}"
            )
        # Ties in niching are broken the same way for the same candidates, in any process.
        key = (len(candidates), *(t.number for t in candidates))
        rng = np.random.default_rng(np.random.SeedSequence(self._entropy, spawn_key=key))
        order, ranks = select_survivors_nsga3(
            values, violation, self.population_size, references, rng
        )
        return _Elite([candidates[i] for i in order], ranks, np.zeros(len(order)))


def _check_reference_points(
    points: Sequence[Sequence[float]] | np.ndarray | None,
) -> np.ndarray | None:
    if points is None:
        return None
    try:
        array = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"reference_points must be a 2-D array of numbers, got {points!r}"
        ) from None
    if array.ndim != 2 or not array.size:
        raise ValueError(
            "reference_points must be a 2-D array (one row per point, one column per "
            f"objective), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("reference_points must be finite")
    if np.any(np.linalg.norm(array, axis=1) == 0):
        raise ValueError("reference_points must not hold the origin: it gives no direction")
    return array
