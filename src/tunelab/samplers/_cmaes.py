"""CMA-ES over the numeric parameters, rebuilt from the study's history (``cmaes`` package)."""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tunelab._validation import positional_as_keywords
from tunelab.logging import get_logger
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._random import RandomSampler
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceTransform,
)
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from cmaes import CMA, CMAwM, SepCMA

    from tunelab.study import StudyView

_logger = get_logger(__name__)

_RESTART_STRATEGIES = (None, "ipop", "bipop")
# get_warm_start_mgd keeps the best 10% of the source trials: at least one must remain.
_MIN_WARM_START_TRIALS = 10
_DEFAULT_SIGMA0 = 1.0 / 6.0
# Below 4, CMA-ES selects a single parent and its rank-mu update vanishes.
_MIN_POPSIZE = 4
# Spawn keys that keep the random streams of trials, restart regimes and restart means apart.
_TRIAL_STREAM, _REGIME_STREAM, _MEAN_STREAM = 0, 1, 2
# Tolerance when checking that a regenerated point is the one a trial received.
_SAME_POINT_ATOL = 1e-8

Optimizer: TypeAlias = "CMA | CMAwM | SepCMA"


def _numeric_space(distributions: Mapping[str, BaseDistribution]) -> dict[str, BaseDistribution]:
    """The parameters CMA-ES can handle: numeric and not single-valued, by name."""
    return {
        name: dist
        for name, dist in sorted(distributions.items())
        if not isinstance(dist, CategoricalDistribution) and not dist.single()
    }


def _grid_size(dist: BaseDistribution) -> int | None:
    """Number of values of an evenly spaced discrete domain, None for continuous ones.

    Log-scaled integers are not evenly spaced in the unit cube, so they count as
    continuous and are rounded on decoding.
    """
    if isinstance(dist, IntDistribution) and not dist.log:
        return (dist.high - dist.low) // dist.step + 1
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        return round((dist.high - dist.low) / dist.step) + 1
    return None


@dataclass(frozen=True)
class _Settings:
    """Everything about the sampler that shapes the optimizer (fixed at construction)."""

    entropy: int
    n_startup_trials: int
    sigma0: float | None
    x0: dict[str, Any] | None
    popsize: int | None
    restart_strategy: str | None
    inc_popsize: int
    with_margin: bool
    warm_start_trials: tuple[FrozenTrial, ...] | None
    separable: bool = False
    lr_adapt: bool = False
    consider_pruned_trials: bool = False

    def rng(self, *key: int) -> np.random.Generator:
        """A reproducible random stream for one purpose (a trial, a restart's regime...)."""
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=key))


class _Geometry:
    """The unit cube of one relative search space, as the optimizer sees it."""

    def __init__(self, space: dict[str, BaseDistribution], settings: _Settings) -> None:
        self.space = space
        self.settings = settings
        with_margin = settings.with_margin
        self.transform = SearchSpaceTransform(space)
        sizes = [_grid_size(dist) if with_margin else None for dist in space.values()]
        self.steps = np.array([0.0 if k is None else 1.0 / k for k in sizes])
        half = self.steps / 2
        # Discrete axes span the centres of their first and last cells (CMAwM's grid).
        self.bounds = np.column_stack([half, 1.0 - half])
        self.discrete = bool(np.any(self.steps > 0))

    @property
    def dim(self) -> int:
        return len(self.space)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.bounds[:, 0], self.bounds[:, 1])

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        return self.clip(self.transform.encode(params))

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        return low + rng.random(self.dim) * (high - low)

    def build(
        self,
        mean: np.ndarray,
        sigma: float,
        popsize: int,
        cov: np.ndarray | None = None,
    ) -> Optimizer:
        # cmaes imports scipy.stats (a second): pay it only when CMA-ES runs.
        from cmaes import CMA, CMAwM, SepCMA

        if self.settings.separable:
            return SepCMA(
                mean=self.clip(mean), sigma=sigma, bounds=self.bounds, population_size=popsize
            )
        if self.discrete:
            return CMAwM(
                mean=self.clip(mean),
                sigma=sigma,
                bounds=self.bounds,
                steps=self.steps,
                population_size=popsize,
                cov=cov,
            )
        return CMA(
            mean=self.clip(mean),
            sigma=sigma,
            bounds=self.bounds,
            population_size=popsize,
            cov=cov,
            lr_adapt=self.settings.lr_adapt,
        )


def _draw(optimizer: Optimizer, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The point to evaluate and the point to tell, from a seeded draw of the optimizer."""
    from cmaes import CMAwM

    optimizer.reseed_rng(seed)
    if isinstance(optimizer, CMAwM):
        return optimizer.ask()
    x = optimizer.ask()
    return x, x


def _trial_seed(settings: _Settings, number: int) -> int:
    return int(settings.rng(_TRIAL_STREAM, number).integers(2**31))


@dataclass
class _Restarts:
    """Population size and step size of each run, under IPOP or BIPOP restarts."""

    popsize0: int
    sigma0: float
    n_large: int = 0
    small_regime: bool = False
    budget: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})

    def next_run(self, settings: _Settings, restart: int, evaluations: int) -> tuple[int, float]:
        """Record the evaluations of the finished run; return (popsize, sigma) of the next."""
        self.budget[self.small_regime] += evaluations
        rng = settings.rng(_REGIME_STREAM, restart)
        # BIPOP alternates regimes so that each spends about the same evaluations.
        self.small_regime = (
            settings.restart_strategy == "bipop" and self.budget[True] < self.budget[False]
        )
        if self.small_regime:
            large = self.popsize0 * settings.inc_popsize**self.n_large
            u = rng.random(2)
            popsize = math.floor(self.popsize0 * (0.5 * large / self.popsize0) ** (u[0] ** 2))
            return max(popsize, _MIN_POPSIZE), self.sigma0 * 10 ** (-2 * u[1])
        self.n_large += 1
        return self.popsize0 * settings.inc_popsize**self.n_large, self.sigma0


class _Run:
    """The CMA-ES state of one search space, advanced one completed trial at a time.

    A trial belongs to the generation that was current when it started; only
    trials of the current generation are told, ``popsize`` at a time, in the
    order they completed.
    """

    def __init__(self, settings: _Settings, geometry: _Geometry, sign: float, since: dt.datetime):
        self.settings = settings
        self.geometry = geometry
        self.sign = sign
        mean, sigma, cov = self._initial_distribution()
        popsize = settings.popsize or 4 + math.floor(3 * math.log(geometry.dim))
        self.restarts = _Restarts(popsize, settings.sigma0 or _DEFAULT_SIGMA0)
        self.optimizer = geometry.build(mean, sigma, popsize, cov)
        self.restart = 0
        self.evaluations = 0
        self.buffer: list[tuple[np.ndarray, float]] = []
        self.since: list[dt.datetime] = [since]  # when each generation became current

    def _initial_distribution(self) -> tuple[np.ndarray, float, np.ndarray | None]:
        settings, geometry = self.settings, self.geometry
        if settings.warm_start_trials is not None:
            from cmaes import get_warm_start_mgd

            mean, sigma, cov = get_warm_start_mgd(self._warm_start_solutions())
            return mean, sigma, cov
        mean = np.full(geometry.dim, 0.5)
        for i, (name, dist) in enumerate(geometry.space.items()):
            if settings.x0 is not None and name in settings.x0:
                mean[i] = _encode_one(name, dist, settings.x0[name])
        return mean, settings.sigma0 or _DEFAULT_SIGMA0, None

    def _warm_start_solutions(self) -> list[tuple[np.ndarray, float]]:
        names = set(self.geometry.space)
        usable = [
            t
            for t in self.settings.warm_start_trials or ()
            if t.state == TrialState.COMPLETE and t.values and names <= set(t.params)
        ]
        if len(usable) < _MIN_WARM_START_TRIALS:
            raise ValueError(
                f"warm_start_trials must hold at least {_MIN_WARM_START_TRIALS} completed "
                f"trials with the parameters {sorted(names)}; {len(usable)} have them"
            )
        return [(self.geometry.encode(t.params), self.sign * t.values[0]) for t in usable]  # type: ignore[index]

    def generation_at(self, start: dt.datetime | None) -> int | None:
        """Index of the generation current at ``start``, None before this run began."""
        if start is None:
            return None
        index = bisect.bisect_right(self.since, start) - 1
        return None if index < 0 else index

    @property
    def current(self) -> int:
        return len(self.since) - 1

    def sample(self, number: int) -> dict[str, Any]:
        x_eval, _ = _draw(self.optimizer, _trial_seed(self.settings, number))
        return self.geometry.transform.decode(x_eval)

    def consume(self, trial: FrozenTrial, time: dt.datetime) -> None:
        """Take a completed trial into account."""
        if self.generation_at(trial.datetime_start) != self.current:
            return  # sampled before this run or from a generation already told
        self.buffer.append((self._solution(trial), self.sign * trial.values[0]))  # type: ignore[index]
        if len(self.buffer) < self.optimizer.population_size:
            return
        self.optimizer.tell(self.buffer)
        self.evaluations += len(self.buffer)
        self.buffer = []
        if self.settings.restart_strategy is not None and self.optimizer.should_stop():
            self._restart()
        self.since.append(time)

    def _solution(self, trial: FrozenTrial) -> np.ndarray:
        """The unrounded point behind a trial, regenerated from its seed when it matches.

        Integer axes are told their unrounded values so CMAwM can keep its margin;
        a trial whose values were not drawn here (enqueued, or another seed) is
        told its own values.
        """
        stored = self.geometry.encode(trial.params)
        x_eval, x_tell = _draw(self.optimizer, _trial_seed(self.settings, trial.number))
        regenerated = self.geometry.encode(self.geometry.transform.decode(x_eval))
        if np.allclose(regenerated, stored, rtol=0.0, atol=_SAME_POINT_ATOL):
            return x_tell
        return stored

    def _restart(self) -> None:
        self.restart += 1
        popsize, sigma = self.restarts.next_run(self.settings, self.restart, self.evaluations)
        rng = self.settings.rng(_MEAN_STREAM, self.restart)
        mean = self.geometry.random_point(rng)
        self.optimizer = self.geometry.build(mean, sigma, popsize)
        self.evaluations = 0


def _encode_one(name: str, dist: BaseDistribution, value: Any) -> float:
    try:
        inside = dist.contains(dist.to_internal(value))
    except (TypeError, ValueError):
        inside = False
    if not inside:
        raise ValueError(f"x0[{name!r}]={value!r} is outside the parameter's domain {dist!r}")
    return float(SearchSpaceTransform({name: dist}).encode({name: value})[0])


class _Replay:
    """The study's completed trials, consumed in the order they completed."""

    def __init__(self, settings: _Settings, sign: float) -> None:
        self.settings = settings
        self.sign = sign
        self.consumed: list[int] = []
        self.space: dict[str, BaseDistribution] | None = None
        self.run: _Run | None = None

    def consume(self, trial: FrozenTrial) -> None:
        time = trial.datetime_complete
        assert time is not None
        self.consumed.append(trial.number)
        space = _numeric_space(trial.distributions)
        if self.space is not None:
            space = {k: v for k, v in self.space.items() if space.get(k) == v}
        if space != self.space:
            # A new space is a new problem: trials sampled in the old one are left out.
            self.space, self.run = space, None
        if self.run is None:
            if self.space and len(self.consumed) >= self.settings.n_startup_trials:
                geometry = _Geometry(self.space, self.settings)
                self.run = _Run(self.settings, geometry, self.sign, time)
            return
        self.run.consume(trial, time)


def _completed_by(
    study: StudyView, start: dt.datetime | None, consider_pruned: bool = False
) -> list[FrozenTrial]:
    """Completed trials that had finished when ``start`` came, in completion order.

    With ``consider_pruned``, pruned trials count too, as copies whose value is
    the one they reported last.
    """
    states = (TrialState.COMPLETE, TrialState.PRUNED) if consider_pruned else (TrialState.COMPLETE,)
    done = []
    for t in study.get_trials(states=states):
        if t.datetime_complete is None or (start is not None and t.datetime_complete > start):
            continue
        if t.state == TrialState.PRUNED:
            last = t.intermediate_values.get(t.last_step) if t.last_step is not None else None
            if last is None or math.isnan(last):
                continue  # nothing reported: no value to tell the optimizer
            t = copy.copy(t)
            t.values = [last]
        done.append(t)
    return sorted(done, key=attrgetter("datetime_complete", "number"))


# The arguments Optuna took by position before 4.9, in order.
_POSITIONAL_BEFORE_4_9 = (
    "x0",
    "sigma0",
    "n_startup_trials",
    "independent_sampler",
    "warn_independent_sampling",
    "seed",
)


class CmaEsSampler(BaseSampler):
    """Covariance Matrix Adaptation Evolution Strategy over the numeric parameters.

    The numeric parameters that every completed trial shares are searched
    jointly in the unit cube (log scales and step grids included); integer and
    stepped parameters use CMA-ES with margin so they keep being explored.
    CMA-ES does not handle categorical parameters: they, and parameters only
    some trials have, are drawn by ``independent_sampler``, as is everything
    until ``n_startup_trials`` trials have completed.

    The sampler keeps no state that matters across processes: before each
    trial it replays the study's completed trials in the order they finished
    (cached between calls), so a sampler loaded in a fresh process — or
    on another machine sharing the storage — rebuilds the same optimizer. A
    trial belongs to the generation that was current when it started; trials
    asked before the generation is told (parallel workers) get different
    points of it, each drawn from a stream seeded by the trial number. A
    generation is told once ``popsize`` of its trials have completed; later
    completions of it are left out. Failed and pruned trials are left out.
    "When" is read from the trials' stored start and completion times, so the
    clocks of workers sharing a study should agree (as heartbeats need anyway).

    Args:
        seed: Seed of the sampler; with the same seed and history, the same points.
        n_startup_trials: Completed trials to draw independently before CMA-ES starts.
        sigma0: Initial step size in the unit cube (every range scaled to length 1);
            1/6 by default.
        x0: Initial mean, as parameter name to value; the centre of the range
            for parameters it does not name.
        popsize: Population size; ``4 + floor(3 ln d)`` for ``d`` parameters by default.
        restart_strategy: ``None`` (no restart), ``"ipop"`` (restart from a random
            mean with ``inc_popsize`` times the population when the optimizer
            stops progressing) or ``"bipop"`` (alternate IPOP with runs of small
            populations and step sizes).
        inc_popsize: Factor by which each large-population restart grows the population.
        with_margin: Keep integer and stepped parameters from fixating on one value
            (CMA-ES with margin); on by default unless ``use_separable_cma`` or
            ``lr_adapt`` is set (neither combines with it).
        warm_start_trials: Completed trials of a similar study (same parameters,
            same direction) that set the initial mean, step size and covariance;
            at least 10 of them.
        source_trials: Optuna's name for ``warm_start_trials`` (give one or the other).
        independent_sampler: Sampler for parameters outside the joint space;
            a :class:`RandomSampler` with ``seed`` by default.
        warn_independent_sampling: Log a warning, once per parameter, when CMA-ES
            is running and a parameter is left to ``independent_sampler``
            (categorical, or not in every completed trial).
        consider_pruned_trials: Count pruned trials too, with the last value they
            reported (suits :class:`~tunelab.pruners.HyperbandPruner`).
        use_separable_cma: Keep the covariance diagonal (sep-CMA-ES): fewer
            parameters to learn, so faster progress on separable objectives.
        lr_adapt: Adapt the learning rate (LRA-CMA-ES), for multimodal and noisy
            objectives.

    Raises:
        ValueError: An argument is out of range, or ``x0``/``sigma0`` are combined
            with ``warm_start_trials`` (which sets both), or both
            ``warm_start_trials`` and ``source_trials`` are given, or
            ``use_separable_cma`` is combined with ``warm_start_trials``,
            ``lr_adapt`` or ``with_margin=True``, or ``lr_adapt`` with
            ``with_margin=True``.
    """

    @positional_as_keywords(_POSITIONAL_BEFORE_4_9, since="4.9.0")
    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = 1,
        sigma0: float | None = None,
        x0: Mapping[str, Any] | None = None,
        popsize: int | None = None,
        restart_strategy: str | None = None,
        inc_popsize: int = 2,
        with_margin: bool | None = None,
        warm_start_trials: Sequence[FrozenTrial] | None = None,
        independent_sampler: BaseSampler | None = None,
        source_trials: Sequence[FrozenTrial] | None = None,
        warn_independent_sampling: bool = True,
        consider_pruned_trials: bool = False,
        use_separable_cma: bool = False,
        lr_adapt: bool = False,
    ) -> None:
        _check_arguments(n_startup_trials, sigma0, x0, popsize, restart_strategy, inc_popsize)
        name = "warm_start_trials"
        if source_trials is not None:
            if warm_start_trials is not None:
                raise ValueError(
                    "give warm_start_trials or source_trials (its Optuna name), not both"
                )
            name, warm_start_trials = "source_trials", source_trials
        _check_warm_start(warm_start_trials, sigma0, x0, name)
        _check_variants(use_separable_cma, lr_adapt, with_margin, warm_start_trials, name)
        self.seed = seed
        self.warn_independent_sampling = warn_independent_sampling
        self._settings = _Settings(
            entropy=_entropy(seed),
            n_startup_trials=n_startup_trials,
            sigma0=None if sigma0 is None else float(sigma0),
            x0=None if x0 is None else dict(x0),
            popsize=popsize,
            restart_strategy=restart_strategy,
            inc_popsize=inc_popsize,
            with_margin=not (use_separable_cma or lr_adapt) if with_margin is None else with_margin,
            warm_start_trials=None if warm_start_trials is None else tuple(warm_start_trials),
            separable=use_separable_cma,
            lr_adapt=lr_adapt,
            consider_pruned_trials=consider_pruned_trials,
        )
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._warned: set[str] = set()  # parameters already warned about
        # The replay, keyed by study and direction, and the trial it was last brought up to.
        self._cache: tuple[str, _Replay] | None = None
        self._cached_for: tuple[str, int, dt.datetime | None] | None = None

    def reseed_rng(self, seed: int | None = None) -> None:
        self._settings = replace(self._settings, entropy=_entropy(seed))
        self._cache = self._cached_for = None
        self._independent.reseed_rng(seed)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if len(study.directions) > 1:
            raise ValueError(
                f"CmaEsSampler optimises a single objective; study {study.study_name!r} has "
                f"{len(study.directions)} directions (use NSGAIISampler)"
            )
        replay = self._replay(study, trial)
        if replay.run is None:
            return {}
        return dict(replay.run.geometry.space)

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        run = self._replay(study, trial).run
        if run is None or run.geometry.space != search_space:
            return {}
        return run.sample(trial.number)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        if (
            self.warn_independent_sampling
            and name not in self._warned
            and self._replay(study, trial).run is not None
        ):
            self._warned.add(name)
            _logger.warning(
                "CmaEsSampler leaves parameter %r to %s: CMA-ES searches only the numeric "
                "parameters every completed trial has (warn_independent_sampling=False "
                "silences this)",
                name,
                type(self._independent).__name__,
            )
        return self._independent.sample_independent(study, trial, name, distribution)

    def _replay(self, study: StudyView, trial: FrozenTrial) -> _Replay:
        """The replay of every trial completed when ``trial`` started, continued from the cache."""
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        key = f"{study.study_name}:{sign}"
        replay = self._cache[1] if self._cache is not None and self._cache[0] == key else None
        asked = (key, trial.number, trial.datetime_start)
        if replay is not None and self._cached_for == asked:
            return replay  # the same trial again: nothing it may see has changed
        done = _completed_by(study, trial.datetime_start, self._settings.consider_pruned_trials)
        numbers = [t.number for t in done]
        if replay is None or numbers[: len(replay.consumed)] != replay.consumed:
            replay = _Replay(self._settings, sign)
        for completed in done[len(replay.consumed) :]:
            replay.consume(completed)
        self._cache, self._cached_for = (key, replay), asked
        return replay


def _entropy(seed: int | None) -> int:
    return int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_variants(
    separable: bool,
    lr_adapt: bool,
    with_margin: bool | None,
    warm_start_trials: Sequence[FrozenTrial] | None,
    warm_start_name: str,
) -> None:
    if separable and warm_start_trials is not None:
        raise ValueError(f"use_separable_cma cannot be combined with {warm_start_name}")
    if separable and lr_adapt:
        raise ValueError("use_separable_cma and lr_adapt cannot be combined")
    if with_margin and (separable or lr_adapt):
        variant = "use_separable_cma" if separable else "lr_adapt"
        raise ValueError(f"{variant} cannot be combined with with_margin=True")


def _check_arguments(
    n_startup_trials: int,
    sigma0: float | None,
    x0: Mapping[str, Any] | None,
    popsize: int | None,
    restart_strategy: str | None,
    inc_popsize: int,
) -> None:
    if not _is_int(n_startup_trials) or n_startup_trials < 0:
        raise ValueError(f"n_startup_trials must be an integer >= 0, got {n_startup_trials!r}")
    if sigma0 is not None and not (
        isinstance(sigma0, int | float) and math.isfinite(sigma0) and sigma0 > 0
    ):
        raise ValueError(f"sigma0 must be a positive finite number or None, got {sigma0!r}")
    if x0 is not None and not isinstance(x0, Mapping):
        raise ValueError(f"x0 must be a mapping of parameter name to value, got {x0!r}")
    if popsize is not None and (not _is_int(popsize) or popsize < _MIN_POPSIZE):
        raise ValueError(f"popsize must be an integer >= {_MIN_POPSIZE} or None, got {popsize!r}")
    if restart_strategy not in _RESTART_STRATEGIES:
        raise ValueError(
            f"restart_strategy must be one of {list(_RESTART_STRATEGIES)}, got {restart_strategy!r}"
        )
    if not _is_int(inc_popsize) or inc_popsize < 2:
        raise ValueError(f"inc_popsize must be an integer >= 2, got {inc_popsize!r}")


def _check_warm_start(
    trials: Sequence[FrozenTrial] | None,
    sigma0: float | None,
    x0: Mapping[str, Any] | None,
    name: str,
) -> None:
    if trials is None:
        return
    if x0 is not None or sigma0 is not None:
        raise ValueError(f"{name} sets the initial mean and step size: give neither x0 nor sigma0")
    if not all(isinstance(t, FrozenTrial) for t in trials):
        raise ValueError(f"{name} must be a sequence of FrozenTrial")
    n_complete = sum(t.state == TrialState.COMPLETE and bool(t.values) for t in trials)
    if n_complete < _MIN_WARM_START_TRIALS:
        raise ValueError(
            f"{name} must hold at least {_MIN_WARM_START_TRIALS} completed trials, got {n_complete}"
        )
