"""MultiFidelityGPSampler: one Gaussian process over the parameters and the budget."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int
from tunelab.pruners._successive_halving import rung_value
from tunelab.samplers._base import BaseSampler, check_single_objective
from tunelab.samplers._bohb import _whole, rung_steps
from tunelab.samplers._gp._acquisition import LogEI, maximize_acquisition
from tunelab.samplers._gp._model import GaussianProcess, KernelParams, fit_hyperparameters
from tunelab.samplers._gp._sampler import fit_still_serves
from tunelab.samplers._gp._transform import InputSpace, objective_encodings
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.samplers._threads import single_blas_thread
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

_OBSERVED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
# Without a rung pruner the budgets are every reported step on a geometric grid of this
# ratio from the smallest: the curve's shape at a few points, not hundreds of near-repeats.
_GRID_RATIO = 3
# Matérn smoothness, as GPSampler's.
_NU = 1.5
# A fresh hyperparameter start (besides the warm one) every this many fits.
_RESTART_EVERY = 10
_WARM_MAXITER = 50
# Best-predicted configurations whose neighbourhoods seed the acquisition search.
_N_INCUMBENTS = 5


@dataclass(frozen=True)
class _Observations:
    """Every value the model learns from: a configuration, a budget, a value to minimise."""

    params: list[dict[str, Any]]
    budgets: np.ndarray
    values: np.ndarray
    full_budget: float

    def budget_column(self, budgets: np.ndarray) -> np.ndarray:
        """Budgets to ``[0, 1]`` on a log scale: the smallest observed at 0, the full one at 1."""
        low = math.log(float(self.budgets.min()))
        span = math.log(self.full_budget) - low
        if span <= 0.0:
            return np.ones(len(budgets))
        return (np.log(budgets) - low) / span


class _AtFullBudget(LogEI):
    """Log expected improvement of the configurations trained to the full budget."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return super().__call__(_with_budget(x))

    def value_and_grad(self, x: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return super().value_and_grad(_with_budget(x), columns)


def _with_budget(x: np.ndarray) -> np.ndarray:
    """Encoded configurations at the full budget (the budget column at 1)."""
    return np.hstack([x, np.ones((len(x), 1))])


class MultiFidelityGPSampler(BaseSampler):
    """Bayesian optimisation that learns from every trial's values at every budget.

    One Gaussian process models the objective over the parameters and the
    budget (the step, on a log scale) jointly: each trial contributes its
    value at each budget it reached, and a completed trial its final value at
    the full budget. The next configuration maximises log expected
    improvement at the full budget, against the best predicted full-budget
    value of the configurations seen. So a pruned trial is not a bad
    observation (as in BOHB) but a partial one: the model learns how values
    at low budgets relate to final ones, configuration by configuration, and
    a configuration pruned early still tells it about its neighbours. It is
    the kernel (one length-scale for the budget, fitted) that says how far
    low budgets can be trusted; hyperparameters are fitted by maximum a
    posteriori as in :class:`~tunelab.samplers.GPSampler`, whose kernel
    (Matérn-3/2 with a first-order additive part) and value transform it
    shares.

    The budgets are the rung steps of the study's
    :class:`~tunelab.pruners.SuccessiveHalvingPruner` or
    :class:`~tunelab.pruners.HyperbandPruner` (every bracket's trials, all
    on one grid of rungs), or else reported steps on a geometric grid of
    ratio 3 from the smallest. The full budget is the largest step reported.

    Where every parameter takes finitely many values (categorical, integer
    or stepped) and there are at most ``max_enumerated`` configurations, all
    configurations no trial has run (or runs now) are scored and the best
    is taken: a promoted configuration run again would pay a whole training
    for a value the study already holds. Once every configuration has run,
    those that never completed are scored instead. Otherwise the acquisition is
    climbed as :class:`~tunelab.samplers.GPSampler` does, with running
    trials pencilled in at their predicted value.

    Until ``min_points_in_model`` distinct configurations have a value, and
    for parameters outside the joint space, ``independent_sampler`` (random
    by default) samples.

    Its cost grows with the cube of the observations (trials times
    budgets): :class:`~tunelab.samplers.AutoSampler` hands studies past its
    ``gp_max_trials`` to :class:`~tunelab.samplers.BOHBSampler`.

    Args:
        seed: Seed of the random stream; the same seed and history give the same samples.
        min_points_in_model: Distinct configurations with a value before the
            model takes over; the number of parameters plus one when None.
        n_candidates: Quasi-random points scored to seed the acquisition search.
        n_restarts: Best-scoring points refined by local optimisation.
        max_enumerated: Largest finite space whose untried configurations are all scored.
        independent_sampler: Sampler for the first trials and for parameters
            outside the joint space; a :class:`RandomSampler` with ``seed`` by default.

    Raises:
        ValueError: An argument is out of its range; a study has several objectives.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        min_points_in_model: int | None = None,
        n_candidates: int = 512,
        n_restarts: int = 5,
        max_enumerated: int = 4096,
        independent_sampler: BaseSampler | None = None,
    ) -> None:
        if min_points_in_model is not None:
            check_int("min_points_in_model", min_points_in_model, 1)
        check_int("n_candidates", n_candidates, 1)
        check_int("n_restarts", n_restarts, 1)
        check_int("max_enumerated", max_enumerated, 0)
        self.seed = seed
        self.min_points_in_model = min_points_in_model
        self.n_candidates = n_candidates
        self.n_restarts = n_restarts
        self.max_enumerated = max_enumerated
        self._rng = np.random.default_rng(seed)
        self._independent = independent_sampler or RandomSampler(seed=seed)
        # The last fit: the search space, the hyperparameters and how many observations
        # they were fitted to.
        self._last_fit: tuple[tuple[Any, ...], np.ndarray, int] | None = None
        self._fits = 0

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._independent.reseed_rng(seed)

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        check_single_objective(self, study)
        self._independent.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return intersection_search_space(_whole(study).get_trials(), include_pruned=True)

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        check_single_objective(self, study)
        whole = _whole(study)
        names = set(search_space)
        trials = [
            t
            for t in whole.get_trials(states=_OBSERVED)
            if t.number != trial.number and names <= t.params.keys()
        ]
        observations = _observations(whole, trials)
        if observations is None:
            return {}
        with single_blas_thread():
            return self._propose(search_space, observations, trials)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, name, distribution)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._independent.after_trial(study, trial, state, values)

    # -- the model -----------------------------------------------------------------------------
    def _propose(
        self,
        search_space: dict[str, BaseDistribution],
        observations: _Observations,
        trials: list[FrozenTrial],
    ) -> dict[str, Any]:
        space = InputSpace(search_space)
        encoded = space.encode(observations.params)
        seen = np.unique(encoded, axis=0)
        if len(seen) < (self.min_points_in_model or len(search_space) + 1):
            return {}  # too few distinct configurations for a model yet
        x = np.column_stack([encoded, observations.budget_column(observations.budgets)])
        is_categorical = np.append(space.is_categorical, False)
        y = objective_encodings(observations.values)[0][0]
        gp = GaussianProcess(x, y, is_categorical, self._fit(search_space, x, y, is_categorical))
        tried = [t.params for t in trials]
        pending = [t.params for t in trials if t.state == TrialState.RUNNING]
        done = [t.params for t in trials if t.state == TrialState.COMPLETE] + pending
        if pending:
            # Kriging believer at the full budget: parallel workers spread out.
            xp = _with_budget(space.encode(pending))
            gp = gp.with_pseudo_observations(xp, gp.predict(xp)[0])
        # The bar is the best predicted full-budget value of a configuration seen at any
        # budget: most of them never ran to the end.
        predicted = gp.predict(_with_budget(seen))[0]
        acquisition = _AtFullBudget(gp, float(predicted.min()))
        finite = _enumerate(space, search_space, self.max_enumerated)
        if finite is not None:
            candidates = _untried(space, finite, space.encode(tried))
            if not len(candidates):
                # Every configuration has run: the most promising one that never
                # completed (pruned early, say) gets another chance, rather than a
                # random repeat. Completed ones are known.
                candidates = _untried(space, finite, space.encode(done))
            if not len(candidates):
                return {}
            # Shuffled, so that ties (untried choices of a categorical the model cannot
            # tell apart) are broken at random rather than by the order of the choices.
            candidates = self._rng.permutation(candidates)
            return space.decode(candidates[int(np.argmax(acquisition(candidates)))])
        incumbents = seen[np.argsort(predicted)[:_N_INCUMBENTS]]
        best = maximize_acquisition(
            acquisition,
            space,
            self._rng,
            n_candidates=self.n_candidates,
            n_restarts=self.n_restarts,
            incumbents=incumbents,
        )
        return space.decode(best)

    def _fit(
        self,
        search_space: dict[str, BaseDistribution],
        x: np.ndarray,
        y: np.ndarray,
        is_categorical: np.ndarray,
    ) -> KernelParams:
        """Hyperparameters warm-started from the last fit on this space, with a fresh
        start from the prior on the first fit and every tenth after it.

        Past 100 observations it is kept on GPSampler's schedule
        (:func:`fit_still_serves`): refitting for every proposal was most of a
        proposal's time.
        """
        key, n = tuple(search_space.items()), len(y)
        last = self._last_fit if self._last_fit is not None and self._last_fit[0] == key else None
        warm = None if last is None else last[1]
        if last is not None and fit_still_serves(n, last[2]):
            return KernelParams.from_theta(last[1], x.shape[1], nu=_NU, additive=True)
        restart = warm is None or self._fits % _RESTART_EVERY == 0
        self._fits += 1
        theta, _ = fit_hyperparameters(
            x,
            y,
            is_categorical,
            deterministic=False,
            init=warm,
            n_random_starts=int(restart),
            rng=self._rng,
            maxiter=200 if restart else _WARM_MAXITER,
            nu=_NU,
            additive=True,
        )
        self._last_fit = (key, theta, n)
        return KernelParams.from_theta(theta, x.shape[1], nu=_NU, additive=True)


def _observations(study: StudyView, trials: list[FrozenTrial]) -> _Observations | None:
    """Each trial's values at the budgets, and completed trials' values at the full one."""
    last = [t.last_step for t in trials if t.last_step is not None]
    full = float(max(max(last, default=1), 1))
    budgets = rung_steps(getattr(study, "pruner", None), int(full))
    if budgets is None:
        budgets = _geometric(sorted({s for t in trials for s in t.intermediate_values}))
    sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
    params, at, values = [], [], []
    for trial in trials:
        complete = trial.state == TrialState.COMPLETE
        for budget in budgets:
            if complete and budget >= full:
                break  # its final value stands for the full budget, once
            value = rung_value(trial, budget)
            if value is not None and budget > 0 and math.isfinite(value):
                params.append(trial.params)
                at.append(float(budget))
                values.append(sign * value)
        final = trial.value if complete else None
        if final is not None and math.isfinite(final):
            params.append(trial.params)
            at.append(full)
            values.append(sign * final)
    if not values:
        return None
    return _Observations(params, np.array(at), np.array(values), full)


def _geometric(steps: list[int]) -> list[int]:
    """The reported steps at least ``_GRID_RATIO`` times the one kept before."""
    kept: list[int] = []
    for step in steps:
        if step > 0 and (not kept or step >= _GRID_RATIO * kept[-1]):
            kept.append(step)
    return kept


def _enumerate(
    space: InputSpace, search_space: dict[str, BaseDistribution], limit: int
) -> np.ndarray | None:
    """Every configuration of a finite space of at most ``limit``, encoded; else None."""
    if len(space.continuous) or len(space.grids) != space.dim:
        return None
    if math.prod(grid.n for grid in space.grids) > limit:
        return None
    positions = [grid.position(np.arange(grid.n)) for grid in space.grids]
    order = [grid.column for grid in space.grids]
    points = np.empty((math.prod(len(p) for p in positions), space.dim))
    points[:, order] = np.array(list(itertools.product(*positions)))
    return points


def _untried(space: InputSpace, points: np.ndarray, tried: np.ndarray) -> np.ndarray:
    """``points`` less those in ``tried``, compared by their grid positions."""

    def keys(x: np.ndarray) -> list[tuple[int, ...]]:
        return list(zip(*(grid.index(x[:, grid.column]) for grid in space.grids), strict=True))

    seen = set(keys(tried))
    return points[[key not in seen for key in keys(points)]]
