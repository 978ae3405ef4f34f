"""Improvement evaluators: how much better the study could still get."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunelab._validation import check_int
from tunelab.samplers._gp._model import GaussianProcess, KernelParams, fit_hyperparameters
from tunelab.samplers._gp._transform import InputSpace
from tunelab.samplers._search_space import intersection_search_space
from tunelab.samplers._threads import single_blas_thread
from tunelab.terminator._base import BaseImprovementEvaluator
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

DEFAULT_TOP_TRIALS_RATIO = 0.5
DEFAULT_MIN_N_TRIALS = 20
# Random points of the space searched for the largest upper confidence bound.
_N_UCB_SAMPLES = 2048
# Random restarts of the GP hyperparameter fit (besides the prior mean).
_N_FIT_RESTARTS = 2


@dataclass(frozen=True)
class FittedGP:
    """A GP fitted to completed trials, on values standardised to maximise."""

    gp: GaussianProcess
    space: InputSpace
    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray


def completed_with_space(
    trials: list[FrozenTrial], evaluator: str
) -> tuple[list[FrozenTrial], InputSpace]:
    """The completed trials and the space they share, encoded for the GP.

    Raises:
        ValueError: Nothing has completed, or the completed trials share no parameter.
    """
    completed = [t for t in trials if t.state == TrialState.COMPLETE]
    if not completed:
        raise ValueError(f"{evaluator} needs a completed trial; none has completed yet")
    space = intersection_search_space(completed)
    if not space:
        raise ValueError(
            f"{evaluator} needs parameters shared by every completed trial; there are none"
        )
    return completed, InputSpace(space)


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    space: InputSpace,
    rng: np.random.Generator,
    *,
    deterministic: bool = False,
    init: np.ndarray | None = None,
) -> FittedGP:
    """Fit the GP's hyperparameters to ``(x, y)`` by maximum a posteriori and condition on them."""
    theta, _ = fit_hyperparameters(
        x,
        y,
        space.is_categorical,
        deterministic=deterministic,
        init=init,
        n_random_starts=_N_FIT_RESTARTS,
        rng=rng,
    )
    params = KernelParams.from_theta(theta, x.shape[1])
    return FittedGP(GaussianProcess(x, y, space.is_categorical, params), space, x, y, theta)


def confidence_width(n_params: int, n_trials: int, delta: float = 0.1) -> float:
    """``beta`` of GP-UCB (Srinivas et al., 2010), scaled down by 5 as in their experiments."""
    return 2.0 * math.log(n_params * n_trials**2 * math.pi**2 / 6.0 / delta) / 5.0


def standardized_regret_bound(
    fitted: FittedGP,
    top_x: np.ndarray,
    rng: np.random.Generator,
    *,
    delta: float = 0.1,
) -> float:
    """``max UCB`` over the space minus ``max LCB`` over the top trials (to maximise).

    The true optimum lies below the largest upper confidence bound and the
    best of the top trials above the largest lower one, with high
    probability: their gap bounds how much a further trial could gain
    (Makarova et al., 2022, with the bounds turned for maximisation).
    """
    beta = confidence_width(top_x.shape[1], len(top_x), delta)
    candidates = np.vstack([top_x, fitted.space.sample(_N_UCB_SAMPLES, rng)])
    mean, var = fitted.gp.predict(candidates)
    ucb = float(np.max(mean + np.sqrt(beta * var)))
    mean_top, var_top = fitted.gp.predict(top_x)
    lcb = float(np.max(mean_top - np.sqrt(beta * var_top)))
    return ucb - lcb


def _to_maximize(trials: list[FrozenTrial], direction: StudyDirection) -> np.ndarray:
    sign = -1.0 if direction == StudyDirection.MINIMIZE else 1.0
    return sign * np.array([t.values[0] for t in trials if t.values], dtype=float)


class RegretBoundEvaluator(BaseImprovementEvaluator):
    """An upper bound on the regret left, from a Gaussian process over the best trials.

    A GP (tunelab's own: Matérn-5/2, hyperparameters by maximum a
    posteriori) is fitted to the top ``top_trials_ratio`` of the completed
    trials (at least ``min_n_trials`` of them) on standardised values; the
    bound is the largest upper confidence bound over the search space minus
    the largest lower confidence bound over those trials, in objective units
    (Makarova et al., 2022, "Automatic termination for hyperparameter
    optimization"). It shrinks as the model grows sure that nothing much
    better is left.

    Args:
        top_trials_ratio: Share of the best completed trials the GP is fitted to.
        min_n_trials: The GP sees at least this many trials (all, if fewer).
        seed: Seed of the random points searched for the upper bound and of
            the fit's restarts.

    Raises:
        ValueError: An argument is out of range; from :meth:`evaluate`, when no
            trial has completed or the completed trials share no parameter.
    """

    def __init__(
        self,
        top_trials_ratio: float = DEFAULT_TOP_TRIALS_RATIO,
        min_n_trials: int = DEFAULT_MIN_N_TRIALS,
        seed: int | None = None,
    ) -> None:
        if (
            isinstance(top_trials_ratio, bool)
            or not isinstance(top_trials_ratio, int | float)
            or not 0.0 < top_trials_ratio <= 1.0
        ):
            raise ValueError(
                f"top_trials_ratio must be a number in (0, 1], got {top_trials_ratio!r}"
            )
        check_int("min_n_trials", min_n_trials, 1)
        self.top_trials_ratio = float(top_trials_ratio)
        self.min_n_trials = min_n_trials
        self._rng = np.random.default_rng(seed)

    def _top(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(y)
        n_top = min(max(int(n * self.top_trials_ratio), self.min_n_trials), n)
        cutoff = np.partition(y, n - n_top)[n - n_top]
        keep = y >= cutoff  # ties at the cutoff are all kept
        return x[keep], y[keep]

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        completed, space = completed_with_space(trials, type(self).__name__)
        x = space.encode([t.params for t in completed])
        top_x, top_y = self._top(x, _to_maximize(completed, study_direction))
        std = max(1e-10, float(top_y.std()))
        standardized = (top_y - top_y.mean()) / std
        with single_blas_thread():
            fitted = fit_gp(top_x, standardized, space, self._rng)
            return standardized_regret_bound(fitted, top_x, self._rng) * std


class BestValueStagnationEvaluator(BaseImprovementEvaluator):
    """How many more completed trials without a new best the study may spend.

    Returns ``max_stagnation_trials`` minus the number of completed trials
    since the best one; it turns negative (below a zero error) once the
    best value has not improved for longer than that.

    Args:
        max_stagnation_trials: Completed trials without improvement tolerated.

    Raises:
        ValueError: ``max_stagnation_trials`` is negative; from
            :meth:`evaluate`, when no trial has completed.
    """

    def __init__(self, max_stagnation_trials: int = 30) -> None:
        check_int("max_stagnation_trials", max_stagnation_trials, 0)
        self.max_stagnation_trials = max_stagnation_trials

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        completed = [t for t in trials if t.state == TrialState.COMPLETE]
        if not completed:
            raise ValueError(
                f"{type(self).__name__} needs a completed trial; none has completed yet"
            )
        values = _to_maximize(completed, study_direction)
        best_index = 0
        for index, value in enumerate(values):
            if value > values[best_index]:  # strictly better: the first of equals stays best
                best_index = index
        return float(self.max_stagnation_trials - (len(values) - 1 - best_index))
