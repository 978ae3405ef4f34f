"""EMMR: the expected minimum model regret criterion of Ishibashi et al. (2023)."""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import scipy.stats

from tunelab._validation import check_int, is_real
from tunelab.samplers._gp._model import GaussianProcess
from tunelab.samplers._gp._transform import InputSpace
from tunelab.samplers._search_space import intersection_search_space
from tunelab.samplers._threads import single_blas_thread
from tunelab.terminator._base import BaseImprovementEvaluator
from tunelab.terminator._improvement import FittedGP, fit_gp, standardized_regret_bound
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

# Returned while the criterion cannot be computed: far above any error, never overflowing.
DO_NOT_STOP_FRACTION = 0.1
_DO_NOT_STOP = sys.float_info.max * DO_NOT_STOP_FRACTION
# The noise variance the KL term assumes (the GP's floor on standardised targets).
_NOISE_VARIANCE = 1e-6


def _posterior_covariance(gp: GaussianProcess, a: np.ndarray, b: np.ndarray) -> float:
    """Posterior covariance of the latent function at the points ``a`` and ``b``."""
    points = np.vstack([a, b])
    prior = gp.prior_covariance(points, points)
    cross = gp._cross_kernel(points)[0]  # kernel against the training points
    v = gp._solve(cross.T)
    return float(prior[0, 1] - v[:, 0] @ v[:, 1])


def _mean_var(gp: GaussianProcess, x: np.ndarray) -> tuple[float, float]:
    mean, var = gp.predict(x[None, :])
    return float(mean[0]), float(var[0])


class EMMREvaluator(BaseImprovementEvaluator):
    """An upper bound on the change of the expected minimum simple regret at the last trial.

    The criterion of Ishibashi et al. (2023), "A stopping criterion for
    Bayesian optimization by the gap of expected minimum simple regrets":
    two GPs are fitted, on all completed trials but the last and on all of
    them, and the bound combines how the best trial's posterior moved with
    how much the last observation changed the model (a KL divergence
    scaled by the previous regret bound). Pair it with
    :class:`MedianErrorEvaluator`. Values are standardised, so the
    criterion is unitless.

    Args:
        deterministic_objective: The objective has no noise: fix the GP's
            noise at a tiny value instead of fitting it.
        delta: Confidence parameter of the regret bound, in ``(0, 1)``.
        min_n_trials: Completed trials needed before it returns a finite
            criterion (``>= 2``).
        seed: Seed of the random search for the regret bound and of the fit.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        deterministic_objective: bool = False,
        delta: float = 0.1,
        min_n_trials: int = 2,
        seed: int | None = None,
    ) -> None:
        check_int("min_n_trials", min_n_trials, 2)
        if not is_real(delta) or not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be a number in (0, 1), got {delta!r}")
        self.deterministic_objective = deterministic_objective
        self.delta = float(delta)
        self.min_n_trials = min_n_trials
        self._rng = np.random.default_rng(seed)

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        completed = sorted(
            (t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number
        )
        if len(completed) < self.min_n_trials:
            return _DO_NOT_STOP
        search_space = intersection_search_space(completed)
        if not search_space:
            warnings.warn(
                "EMMREvaluator: the completed trials share no parameter; it will never stop "
                "the study",
                stacklevel=2,
            )
            return _DO_NOT_STOP
        space = InputSpace(search_space)
        x = space.encode([t.params for t in completed])
        sign = -1.0 if study_direction == StudyDirection.MINIMIZE else 1.0
        y = sign * np.array([t.values[0] for t in completed if t.values], dtype=float)
        y = (y - y.mean()) / max(sys.float_info.min, float(y.std()))

        with single_blas_thread():
            before = fit_gp(
                x[:-1], y[:-1], space, self._rng, deterministic=self.deterministic_objective
            )
            now = fit_gp(
                x,
                y,
                space,
                self._rng,
                deterministic=self.deterministic_objective,
                init=before.theta,
            )
            return min(sys.float_info.max * 0.5, self._criterion(before, now, x, y))

    def _criterion(self, before: FittedGP, now: FittedGP, x: np.ndarray, y: np.ndarray) -> float:
        best_now, best_before = int(np.argmax(y)), int(np.argmax(y[:-1]))
        mean_best_now, var_best_now = _mean_var(now.gp, x[best_now])
        _, var_best_before = _mean_var(now.gp, x[best_before])
        mean_before_at_best_before, _ = _mean_var(before.gp, x[best_before])
        covariance = (
            var_best_now
            if best_now == best_before
            else _posterior_covariance(now.gp, x[best_now], x[best_before])
        )
        # Theorem 1: the expected change of the best value's posterior.
        spread = math.sqrt(max(1e-10, var_best_now - 2.0 * covariance + var_best_before))
        gain = (mean_best_now - mean_before_at_best_before) / spread
        moved = (
            (mean_before_at_best_before - mean_best_now)
            + spread * float(scipy.stats.norm.pdf(gain))
            + spread * gain * float(scipy.stats.norm.cdf(gain))
        )
        # Eq. 4: the KL divergence the last observation caused, scaled by the regret bound.
        mean_last, var_last = _mean_var(now.gp, x[-1])
        noisy = var_last + _NOISE_VARIANCE
        kl = (
            0.5 * math.log(1.0 + var_last / _NOISE_VARIANCE)
            - 0.5 * var_last / noisy
            + 0.5 * var_last * (y[-1] - mean_last) ** 2 / noisy**2
        )
        kappa = standardized_regret_bound(before, x[:-1], self._rng, delta=self.delta)
        return moved + kappa * math.sqrt(0.5 * kl)
