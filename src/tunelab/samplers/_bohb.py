"""BOHB-style sampling: a TPE model fitted at the largest budget that has enough observations."""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int, is_int
from tunelab.pruners import BasePruner, HyperbandPruner, SuccessiveHalvingPruner
from tunelab.pruners._successive_halving import rung_value
from tunelab.samplers._base import BaseSampler, check_single_objective
from tunelab.samplers._tpe._draw import DrawSettings, draw, draw_new, draw_uniform
from tunelab.samplers._tpe._history import History, HistoryCache
from tunelab.samplers._tpe._ranking import default_gamma
from tunelab.samplers._tpe._sampler import _check_arguments
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

GammaFunc = Callable[[int], int]

# The budget of a completed trial's objective value: above every step.
FINAL_BUDGET = math.inf
_OBSERVED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
# Uniform draws tried for a configuration no trial has run before giving up on one.
_UNIFORM_TRIES = 100


@dataclass(frozen=True)
class _Model:
    """What one trial draws from: the observations at one budget.

    Attributes:
        budget: The step (or :data:`FINAL_BUDGET`).
        history: The trials with a value at the budget, then those that stopped before it.
        n_good: How many of those with a value at the budget are good.
    """

    budget: float
    history: History
    n_good: int


class BOHBSampler(BaseSampler):
    """Model-based search that learns from intermediate values, as BOHB does.

    Each trial's value at a budget (a step) is its report at that step, or its
    first report after it (the value successive halving ranks a trial by at a
    rung); completed, pruned and running trials all count. The model is a
    TPE (the same Parzen estimators, good/bad split and candidate selection
    as :class:`~tunelab.samplers.TPESampler`) fitted on the largest budget
    with at least ``min_points_in_model`` observations: the completed trials'
    objective values first, then the study's rungs from the top down. With
    no budget that has enough, or for a ``random_fraction`` of trials, the
    parameters are drawn at random. A trial draws all its parameters from one
    model.

    A configuration that a trial of the study has run (or runs now) is not
    proposed again while the model offers a new one: with every parameter
    drawn jointly from a finite set (categorical or stepped choices), the model
    keeps returning to the best configurations it has seen, and under a
    budget pruner a repeat of a promoted configuration is promoted again, so
    it would pay a whole training for a value the study already holds. The
    best-scoring new candidate is taken instead, or, when every candidate was
    tried, a uniform draw that avoids the tried ones (up to 100 draws). On
    continuous axes repeats do not occur, so this changes nothing there.

    The budgets are the rung steps of the study's
    :class:`~tunelab.pruners.SuccessiveHalvingPruner` or
    :class:`~tunelab.pruners.HyperbandPruner` (which hands the sampler a
    view of one bracket: this sampler reads the whole study instead, since
    all brackets share one grid of rung steps and BOHB fits one model per
    budget on every bracket's data), or else every step reported.

    Args:
        seed: Seed of the random stream; the same seed and history give the same samples.
        min_points_in_model: Observations a budget needs before a model is
            fitted on it. None (the default): the number of jointly sampled
            parameters plus one, BOHB's rule: the fewest points that span every
            direction of a ``d``-dimensional joint density.
        random_fraction: Share of trials sampled at random even when a model
            exists, so the low budgets keep seeing the whole space and a
            misleading low-budget model cannot trap the search (BOHB uses 1/3).
        n_ei_candidates: Candidates drawn from l(x) per sample.
        prior_weight: Weight of the prior component of each density.
        consider_endpoints: Let the ends of each axis count as neighbours of
            the outermost observations.
        gamma: ``gamma(n)``, the number of good observations among ``n`` at the
            chosen budget; TPE's default (10 %, at most 25) when None.
        avoid_repeats: Pass over configurations tried before (above). False
            draws as BOHB does, repeats included.

    Raises:
        ValueError: An argument is out of its range; a study has several objectives.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        min_points_in_model: int | None = None,
        random_fraction: float = 1 / 3,
        n_ei_candidates: int = 24,
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        gamma: GammaFunc | None = None,
        avoid_repeats: bool = True,
    ) -> None:
        if min_points_in_model is not None:
            check_int("min_points_in_model", min_points_in_model, 1)
        if (
            isinstance(random_fraction, bool)
            or not isinstance(random_fraction, int | float)
            or not 0.0 <= random_fraction <= 1.0
        ):
            raise ValueError(f"random_fraction must be a number in [0, 1], got {random_fraction!r}")
        _check_arguments(
            n_startup_trials=0,
            n_ei_candidates=n_ei_candidates,
            flags={"consider_endpoints": consider_endpoints, "avoid_repeats": avoid_repeats},
            prior_weight=prior_weight,
            functions={"gamma": gamma},
        )
        self.seed = seed
        self.min_points_in_model = min_points_in_model
        self.random_fraction = float(random_fraction)
        self.n_ei_candidates = n_ei_candidates
        self.prior_weight = float(prior_weight)
        self.consider_endpoints = consider_endpoints
        self.gamma = gamma
        self.avoid_repeats = avoid_repeats
        self._settings = DrawSettings(n_ei_candidates, self.prior_weight, consider_endpoints, None)
        self._rng = np.random.default_rng(seed)
        self._histories = HistoryCache()
        # The model each running trial draws from (None: at random), so that its
        # jointly and independently sampled parameters come from the same one.
        self._models: dict[tuple[str, int], _Model | None] = {}

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    # -- the sampler contract ----------------------------------------------------------------
    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        check_single_objective(self, study)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        history = self._histories.get(_whole(study))
        return {n: d for g in history.grouped_space() for n, d in g.items()}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        check_single_objective(self, study)
        model = self._model(study, trial, len(search_space))
        groups = [
            space
            for group in self._histories.get(_whole(study)).grouped_space()
            if (space := {n: search_space[n] for n in group if n in search_space})
        ]
        if len(groups) == 1 and self.avoid_repeats:
            # One joint draw is the whole configuration: one tried before is passed over.
            return self._draw(model, groups[0], _tried(_whole(study), groups[0], trial.number))
        params: dict[str, Any] = {}
        for space in groups:
            params.update(self._draw(model, space))
        return params

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        check_single_objective(self, study)
        return self._draw(self._model(study, trial, 1), {name: distribution})[name]

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._models.pop((study.study_name, trial.number), None)

    # -- the model -----------------------------------------------------------------------------
    def budget_for(self, study: StudyView, dimension: int) -> float | None:
        """The budget a model for ``dimension`` joint parameters would be fitted on now.

        :data:`FINAL_BUDGET` (infinity) stands for the completed trials'
        objective values; None means no budget has enough observations.
        """
        whole = _whole(study)
        return self._budget(whole, whole.get_trials(states=_OBSERVED), dimension)

    def _budget(
        self, whole: StudyView, trials: Sequence[FrozenTrial], dimension: int
    ) -> float | None:
        last_steps = [step for t in trials if (step := _last_step(t)) is not None]
        return choose_budget(
            last_steps,
            sum(t.state == TrialState.COMPLETE for t in trials),
            rung_steps(getattr(whole, "pruner", None), max(last_steps, default=0)),
            self._min_points(dimension),
        )

    def _value_at(self, trial: FrozenTrial, budget: float) -> float | None:
        """The value ``trial`` has at ``budget``, None if it has none yet."""
        if budget == FINAL_BUDGET:
            return trial.value if trial.state == TrialState.COMPLETE else None
        return rung_value(trial, int(budget))

    def _model(self, study: StudyView, trial: FrozenTrial, dimension: int) -> _Model | None:
        """What ``trial`` draws from, chosen at its first sample (None: at random)."""
        key = (study.study_name, trial.number)
        if key in self._models:
            return self._models[key]
        model = None
        if self._rng.random() >= self.random_fraction:
            whole = _whole(study)
            trials = [t for t in whole.get_trials(states=_OBSERVED) if t.number != trial.number]
            budget = self._budget(whole, trials, dimension)
            if budget is not None:
                # A trial that stopped before the budget (pruned at a lower rung) is
                # known to be worse than those that reached it: a bad observation,
                # ranked after every value at the budget, deeper ones first.
                observations = [
                    (t, v)
                    for t in trials
                    if (v := self._value_at(t, budget)) is not None or t.state.is_finished()
                ]
                history = History(study.directions)
                history.add_observations(observations)
                n_values = sum(v is not None for _, v in observations)
                model = _Model(budget, history, self._n_good(n_values))
        self._models[key] = model
        return model

    def _draw(
        self,
        model: _Model | None,
        space: Mapping[str, BaseDistribution],
        tried: Container[tuple[Any, ...]] = (),
    ) -> dict[str, Any]:
        if model is not None:
            history = model.history
            rows = history.rows_with(list(space.items()))
            if len(rows) > 0:
                sets = history.split(rows, model.n_good)
                if not self.avoid_repeats:
                    no_lies = np.empty((0, len(space)))
                    return draw(history, space, sets, no_lies, self._rng, self._settings)
                params = draw_new(history, space, sets, self._rng, self._settings, tried)
                if params is not None:
                    return params
        return self._draw_uniform(space, tried)

    def _draw_uniform(
        self, space: Mapping[str, BaseDistribution], tried: Container[tuple[Any, ...]]
    ) -> dict[str, Any]:
        params = draw_uniform(space, self._rng)
        for _ in range(_UNIFORM_TRIES if self.avoid_repeats else 0):
            if tuple(params.values()) not in tried:
                break
            params = draw_uniform(space, self._rng)
        return params

    def _n_good(self, n: int) -> int:
        if self.gamma is None:
            return default_gamma(n)
        n_good = self.gamma(n)
        if not is_int(n_good):
            raise ValueError(f"gamma({n}) must return an integer, got {n_good!r}")
        return min(max(int(n_good), 1), n)

    def _min_points(self, dimension: int) -> int:
        if self.min_points_in_model is not None:
            return self.min_points_in_model
        return dimension + 1


def rung_steps(pruner: BasePruner | None, up_to: int) -> list[int] | None:
    """The steps up to ``up_to`` at which ``pruner`` ranks trials; None if it has no rungs.

    Hyperband's brackets share one geometric grid of steps (bracket ``b``
    starts at its ``b``-th point), so the grid serves all of them.
    """
    if isinstance(pruner, SuccessiveHalvingPruner) and pruner.min_resource is not None:
        step, eta = pruner.rung_step(0), pruner.reduction_factor
    elif isinstance(pruner, HyperbandPruner):
        step, eta = pruner.min_resource, pruner.reduction_factor
    else:
        return None
    steps = []
    while step <= up_to:
        steps.append(step)
        step *= eta
    return steps


def choose_budget(
    last_steps: Sequence[int],
    n_complete: int,
    rungs: Sequence[int] | None,
    min_points: int,
) -> float | None:
    """The largest budget with at least ``min_points`` observations, or None.

    Args:
        last_steps: Each observed trial's last step with a report (it has a value
            at every budget up to it).
        n_complete: Completed trials, the observations of :data:`FINAL_BUDGET`.
        rungs: The candidate steps, or None for every reported step.
        min_points: Observations a budget needs.
    """
    if n_complete >= min_points:
        return FINAL_BUDGET
    if len(last_steps) < min_points:
        return None
    # The largest step that at least min_points trials reached.
    reached = sorted(last_steps, reverse=True)[min_points - 1]
    if rungs is None:
        return reached
    return max((r for r in rungs if r <= reached), default=None)


def _last_step(trial: FrozenTrial) -> int | None:
    """The last step of ``trial`` with a non-NaN report: it has a value at every budget up to it."""
    step = trial.last_step
    if step is None or not math.isnan(trial.intermediate_values[step]):
        return step
    return max((s for s, v in trial.intermediate_values.items() if not math.isnan(v)), default=None)


def _tried(
    study: StudyView, space: Mapping[str, BaseDistribution], number: int
) -> set[tuple[Any, ...]]:
    """The configurations of ``space`` that trials other than ``number`` have run or run now."""
    names = list(space)
    return {
        tuple(t.params[n] for n in names)
        for t in study.get_trials(states=_OBSERVED)
        if t.number != number and all(n in t.params for n in names)
    }


def _whole(study: StudyView) -> StudyView:
    """The view of every trial, also when the pruner handed a sub-view (a Hyperband bracket)."""
    return getattr(study, "whole_study", study)
