"""The Tree-structured Parzen Estimator sampler."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab._validation import check_int, is_int
from tunelab.samplers._base import BaseSampler, ConstraintsFunc, check_constraints_func
from tunelab.samplers._tpe._draw import DrawSettings, WeightsFunc, draw, draw_uniform, encode
from tunelab.samplers._tpe._history import History, HistoryCache
from tunelab.samplers._tpe._ranking import default_gamma
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

GammaFunc = Callable[[int], int]


def _warn_ignored_optuna_arguments(**given: bool | None) -> None:
    # Optuna deprecated these arguments; code written for it may still pass them.
    for name, value in given.items():
        if value is not None:
            warnings.warn(
                f"TPESampler's {name} is deprecated in Optuna and has no effect in tunelab",
                FutureWarning,
                stacklevel=3,
            )


def _hyperopt_gamma(n: int) -> int:
    """hyperopt's good-set size: a quarter of the square root of the history, at most 25."""
    return min(math.ceil(0.25 * math.sqrt(n)), 25)


def _hyperopt_weights(n: int) -> np.ndarray:
    """hyperopt's weights, oldest first: the latest 25 weigh 1, older ones less, linearly."""
    if n <= 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


class TPESampler(BaseSampler):
    """Model-based search: sample where good trials are dense and bad ones are not.

    The finished trials are split into a good set (the best ``gamma(n)``) and
    the rest. Each set becomes a Parzen density, l(x) for the good and g(x)
    for the bad, over the transformed space (log scales, half-step-widened
    grids on [0, 1], categorical choices by index): Gaussian kernels as wide
    as the gaps to their neighbours, smoothed categorical kernels, and a wide
    prior component. ``n_ei_candidates`` points are drawn from l(x) and the
    one with the largest log l(x) - log g(x) is returned.

    By default the parameters are modelled jointly: the space is split into
    groups of parameters that always occur together (so each conditional
    branch is modelled on the trials that took it, by where the study's good
    trials put it), and each group gets one multivariate density. Parameters
    outside every group, or seen with conflicting distributions, are sampled
    one at a time.

    Pruned trials count with their last reported value, ranked after all
    completed trials (those that reached a later step first). With several
    objectives the good set is taken by non-domination rank. Failed trials
    are ignored. Finished trials are encoded once and kept in numpy columns,
    so an ask costs a few vectorised passes over the history.

    Args:
        seed: Seed of the random stream; the same seed and history give the same samples.
        n_startup_trials: Finished trials sampled at random before the model takes over.
        n_ei_candidates: Candidates drawn from l(x) per sample; more exploit harder.
        multivariate: Model the parameters of a group jointly; otherwise each
            parameter has its own one-dimensional densities. None (Optuna's
            default) decides by the study: jointly with one objective, one at a
            time with several.
        group: With ``multivariate``, split the space into groups of
            parameters that always co-occur (for conditional spaces); without
            it, only the parameters every trial has are modelled jointly.
        constant_liar: Count running trials as bad observations, so parallel
            workers asking before the others tell do not pile onto one point.
            A running trial counts with the values this sampler chose for it
            even before its objective asks for them.
        prior_weight: Weight of the prior component (an observation weighs 1
            unless ``weights`` says otherwise).
        consider_endpoints: Let the ends of each axis count as neighbours of
            the outermost observations, widening their kernels.
        gamma: ``gamma(n)`` is the number of good observations among ``n``;
            by default 10 % of them, at most 25. Results are clipped to ``[1, n]``.
        weights: ``weights(n)`` gives the ``n`` weights of a set's
            observations, oldest trial first; equal weights by default.
        history_window: For very long studies: fit g(x) to at most this many
            of the latest observations outside the good set (the good set is
            still chosen among all of them), so that the cost of a trial
            stops growing with the history. None (the default): all of them.
        constraints_func: Constraint values of a finished trial, feasible when
            all are ``<= 0``, as in Optuna: the study stores them in the trial's
            ``system_attrs["constraints"]`` when it finishes. The good set is
            taken among the feasible trials first, then the least infeasible.
        consider_prior: Accepted for Optuna code (deprecated there since 4.3, where
            it has no effect either); warns when given. The prior is always used.
        consider_magic_clip: Accepted for Optuna code (deprecated there since 4.9);
            warns when given and is ignored: tunelab's kernels have their own
            width floor.
        warn_independent_sampling: Accepted for Optuna code (deprecated there since
            4.9); warns when given and is ignored.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool | None = True,
        group: bool = True,
        constant_liar: bool = False,
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        gamma: GammaFunc | None = None,
        weights: WeightsFunc | None = None,
        history_window: int | None = None,
        constraints_func: ConstraintsFunc | None = None,
        consider_prior: bool | None = None,
        consider_magic_clip: bool | None = None,
        warn_independent_sampling: bool | None = None,
    ) -> None:
        _warn_ignored_optuna_arguments(
            consider_prior=consider_prior,
            consider_magic_clip=consider_magic_clip,
            warn_independent_sampling=warn_independent_sampling,
        )
        if history_window is not None:
            check_int("history_window", history_window, 1)
        _check_arguments(
            n_startup_trials=n_startup_trials,
            n_ei_candidates=n_ei_candidates,
            flags={
                "multivariate": True if multivariate is None else multivariate,
                "group": group,
                "constant_liar": constant_liar,
                "consider_endpoints": consider_endpoints,
            },
            prior_weight=prior_weight,
            functions={"gamma": gamma, "weights": weights},
        )
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.group = group
        self.constant_liar = constant_liar
        self.prior_weight = float(prior_weight)
        self.consider_endpoints = consider_endpoints
        self.gamma = gamma
        self.weights = weights
        self.history_window = history_window
        self.constraints_func = check_constraints_func(constraints_func)
        self._settings = DrawSettings(
            n_ei_candidates, self.prior_weight, consider_endpoints, weights
        )
        self._rng = np.random.default_rng(seed)
        self._histories = HistoryCache()
        # Jointly sampled values of trials still running, for constant_liar: the
        # objective may not have asked for them yet, so storage does not know them.
        self._pending: dict[tuple[str, int], dict[str, Any]] = {}

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def hyperopt_parameters() -> dict[str, Any]:
        """Arguments that make this sampler behave like hyperopt 0.1.2's TPE.

        Deprecated, as in Optuna (since 4.9): it warns with a ``FutureWarning``.
        Use it as ``TPESampler(**TPESampler.hyperopt_parameters())``.

        Returns:
            hyperopt's settings: 20 random startup trials, 24 candidates, a good set
            of ``ceil(sqrt(n) / 4)`` (at most 25) and older observations weighed
            down linearly beyond the latest 25.
        """
        warnings.warn(
            "TPESampler.hyperopt_parameters() is deprecated (as in Optuna since 4.9); "
            "pass the arguments it returns yourself",
            FutureWarning,
            stacklevel=2,
        )
        return {
            "consider_prior": True,
            "prior_weight": 1.0,
            "consider_magic_clip": True,
            "consider_endpoints": False,
            "n_startup_trials": 20,
            "n_ei_candidates": 24,
            "gamma": _hyperopt_gamma,
            "weights": _hyperopt_weights,
        }

    # -- the sampler contract ----------------------------------------------------------------
    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        joint = len(study.directions) == 1 if self.multivariate is None else self.multivariate
        if not joint:
            return {}
        history = self._history(study)
        if not self.group:
            return history.intersection_space()
        return {n: d for g in history.grouped_space() for n, d in g.items()}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        history = self._history(study)
        if not search_space or history.n_rows < self.n_startup_trials:
            return {}
        groups = (
            [{n: search_space[n] for n in g if n in search_space} for g in history.grouped_space()]
            if self.group
            else [search_space]
        )
        params: dict[str, Any] = {}
        for space in groups:
            if space:
                params.update(self._sample(study.study_name, history, trial, space))
        if self.constant_liar:
            self._pending[(study.study_name, trial.number)] = params
        return params

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        history = self._history(study)
        space = {name: distribution}
        if history.n_rows < self.n_startup_trials:
            return draw_uniform(space, self._rng)[name]
        return self._sample(study.study_name, history, trial, space)[name]

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._pending.pop((study.study_name, trial.number), None)

    # -- internals -----------------------------------------------------------------------------
    def _history(self, study: StudyView) -> History:
        """The study's history, brought up to date."""
        return self._histories.get(study, constrained=self.constraints_func is not None)

    def _sample(
        self,
        study_name: str,
        history: History,
        trial: FrozenTrial,
        space: Mapping[str, BaseDistribution],
    ) -> dict[str, Any]:
        """One point of ``space`` by TPE over the observations that have all of it."""
        rows = history.rows_with(list(space.items()))
        if len(rows) == 0:
            return draw_uniform(space, self._rng)
        good, bad = history.split(rows, self._n_good(history.n_rows))
        if self.history_window is not None:
            bad = bad[-self.history_window :]  # rows are in trial-number order
        lies = self._lies(study_name, history, trial, space)
        return draw(history, space, (good, bad), lies, self._rng, self._settings)

    def _n_good(self, n: int) -> int:
        if self.gamma is None:
            return default_gamma(n)
        n_good = self.gamma(n)
        if not is_int(n_good):
            raise ValueError(f"gamma({n}) must return an integer, got {n_good!r}")
        return min(max(int(n_good), 1), n)

    def _lies(
        self,
        study_name: str,
        history: History,
        trial: FrozenTrial,
        space: Mapping[str, BaseDistribution],
    ) -> np.ndarray:
        """With constant_liar, the encoded points of the other running trials.

        A running trial counts once it has a value for every parameter of
        ``space``, whether the objective asked for it (stored) or this sampler
        chose it jointly when the trial started (pending).
        """
        points = []
        for other in history.running if self.constant_liar else ():
            if other.number == trial.number:
                continue
            known = {**self._pending.get((study_name, other.number), {}), **other.params}
            if all(
                name in known and other.distributions.get(name, dist) == dist
                for name, dist in space.items()
            ):
                points.append(encode(space, known))
        return np.array(points, dtype=float).reshape(len(points), len(space))


def _check_arguments(
    *,
    n_startup_trials: Any,
    n_ei_candidates: Any,
    flags: Mapping[str, Any],
    prior_weight: Any,
    functions: Mapping[str, Any],
) -> None:
    """Raise ValueError naming the first constructor argument out of its range."""
    for name, value, minimum in (
        ("n_startup_trials", n_startup_trials, 0),
        ("n_ei_candidates", n_ei_candidates, 1),
    ):
        check_int(name, value, minimum)
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if isinstance(prior_weight, bool) or not (
        isinstance(prior_weight, int | float) and math.isfinite(prior_weight) and prior_weight > 0
    ):
        raise ValueError(f"prior_weight must be a positive finite number, got {prior_weight!r}")
    for name, func in functions.items():
        if func is not None and not callable(func):
            raise ValueError(f"{name} must be a callable taking a count, or None; got {func!r}")
