"""Log expected improvement and its maximisation over a mixed space.

Expected improvement underflows to exactly zero a few standard deviations
away from the incumbent, which leaves an optimiser with flat ground. Its
logarithm is computed here without ever forming the tiny number, following
the asymptotics of the Gaussian tail (Ament et al., 2023, "Unexpected
Improvements to Expected Improvement").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
from scipy import special

from tunelab.samplers._gp._model import GaussianProcess
from tunelab.samplers._gp._transform import MAX_ENUMERATED, InputSpace

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
# Below this z, 1 + z * Φ(z) / φ(z) cancels to zero in float64: use the asymptote.
_ASYMPTOTE_Z = -1.0 / math.sqrt(np.finfo(float).eps)
# Local searches start at least this far apart (largest coordinate difference).
_MIN_START_GAP = 0.05


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(φ(z) + z Φ(z))``, the log of expected improvement at unit scale.

    Three regimes keep it accurate: the direct formula where nothing
    cancels, the scaled complementary error function (``erfcx``) for the
    lower tail, and the asymptote ``log φ(z) - 2 log|z|`` beyond that.
    """
    z = np.asarray(z, dtype=float)
    # Each regime sees z clipped into its own range, so no branch warns or
    # overflows; np.where then picks the right one (cheaper than masking for
    # the single points the optimiser sends).
    zm = np.maximum(z, -1.0)
    mid = np.log(np.exp(-0.5 * zm * zm) / math.sqrt(2.0 * math.pi) + zm * special.ndtr(zm))
    zt = np.clip(z, _ASYMPTOTE_Z, -1.0)
    # Φ(z) / φ(z) = √(π/2) erfcx(-z/√2): the Mills ratio, finite for any z.
    mills = _SQRT_HALF_PI * special.erfcx(-zt / math.sqrt(2.0))
    tail = -0.5 * zt * zt - _LOG_SQRT_2PI + np.log1p(zt * mills)
    zf = np.minimum(z, _ASYMPTOTE_Z)
    far = -0.5 * zf * zf - _LOG_SQRT_2PI - 2.0 * np.log(-zf)
    return np.where(z > -1.0, mid, np.where(z > _ASYMPTOTE_Z, tail, far))


def log_expected_improvement(
    mean: np.ndarray, var: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log expected improvement below ``best`` (minimisation) and its partials.

    Returns:
        ``(log_ei, d/d mean, d/d var)``.
    """
    sigma = np.sqrt(var)
    z = (best - mean) / sigma
    lh = log_h(z)
    # dEI/dmean = -Φ(z) and dEI/dσ = φ(z); divided by EI = σ h(z) in log space.
    log_phi = -0.5 * z * z - _LOG_SQRT_2PI
    d_mean = -np.exp(special.log_ndtr(z) - lh) / sigma
    d_sigma = np.exp(log_phi - lh) / sigma
    return np.log(sigma) + lh, d_mean, d_sigma / (2.0 * sigma)


class LogEI:
    """Log expected improvement of a GP posterior below the best observed value.

    Args:
        gp: The posterior (possibly with pseudo-observations at pending points).
        best: The best (smallest) standardised observation.
    """

    def __init__(self, gp: GaussianProcess, best: float) -> None:
        self.gp = gp
        self.best = best

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Values at the points ``x``, shape ``(len(x),)``."""
        mean, var = self.gp.predict(x)
        return log_expected_improvement(mean, var, self.best)[0]

    def value_and_grad(self, x: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values and gradients along ``columns``, shape ``(len(x), len(columns))``."""
        mean, var, d_mean, d_var = self.gp.predict_with_grad(x, columns)
        value, g_mean, g_var = log_expected_improvement(mean, var, self.best)
        return value, g_mean[:, None] * d_mean + g_var[:, None] * d_var


class ConstrainedLogEI(LogEI):
    """Log expected improvement plus the log probability that every constraint holds.

    Each constraint has its own GP over standardised values and a threshold
    (zero, standardised): ``log P(c <= 0) = log Φ((threshold - mean) / sd)``.
    Before any trial is feasible only the probability counts.

    Args:
        gp: The objective's posterior.
        best: The best standardised value among feasible observations, None if none.
        constraints: A GP and its threshold per constraint.
    """

    def __init__(
        self,
        gp: GaussianProcess,
        best: float | None,
        constraints: Sequence[tuple[GaussianProcess, float]],
    ) -> None:
        super().__init__(gp, math.inf if best is None else best)
        self.use_objective = best is not None
        self.constraints = list(constraints)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        total = super().__call__(x) if self.use_objective else np.zeros(len(x))
        for gp, threshold in self.constraints:
            mean, var = gp.predict(x)
            total = total + special.log_ndtr((threshold - mean) / np.sqrt(var))
        return total

    def value_and_grad(self, x: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.use_objective:
            value, grad = super().value_and_grad(x, columns)
        else:
            value, grad = np.zeros(len(x)), np.zeros((len(x), len(columns)))
        for gp, threshold in self.constraints:
            mean, var, d_mean, d_var = gp.predict_with_grad(x, columns)
            z = (threshold - mean) / np.sqrt(var)
            log_p = special.log_ndtr(z)
            # d log Φ(z) / dz = φ(z) / Φ(z), computed in log space.
            ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_p)
            d_z_mean, d_z_var = -1.0 / np.sqrt(var), -z / (2.0 * var)
            value = value + log_p
            grad = grad + (ratio * d_z_mean)[:, None] * d_mean + (ratio * d_z_var)[:, None] * d_var
        return value, grad


def maximize_acquisition(
    acq: LogEI,
    space: InputSpace,
    rng: np.random.Generator,
    *,
    n_candidates: int,
    n_restarts: int,
    incumbents: np.ndarray,
) -> np.ndarray:
    """The point of ``space`` where ``acq`` is largest, found by multi-start local search.

    Quasi-random candidates and random neighbours of the best observed
    points are scored; the best ``n_restarts`` of them (spread apart) are
    refined by L-BFGS-B on the continuous columns (long integer or step grids
    relaxed, then snapped) alternating with coordinate sweeps over the grid
    columns (integers, steps, categories).
    """
    candidates = np.vstack([space.sample(n_candidates, rng), space.perturb(incumbents, 32, rng)])
    scores = acq(candidates)
    order = _spread_out_best(candidates, scores, n_restarts)
    x, values = candidates[order], scores[order]
    for _ in range(2):
        moved = False
        if len(space.continuous):
            x, values = _lbfgsb(acq, x, values, space)
        if space.grids:
            x, values, moved = _sweep_grids(acq, x, values, space)
        if not moved:
            break
    return x[int(np.argmax(values))]


def _spread_out_best(candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to ``k`` high scorers, each away from those chosen before it.

    The best candidates tend to crowd into one basin; climbing from several
    points of the same basin buys nothing, so each pick must lie outside a
    small ball around the earlier ones (when enough candidates do).
    """
    order = np.argsort(-scores)
    chosen = [int(order[0])]
    for i in order[1:]:
        if len(chosen) == k:
            break
        gaps = np.abs(candidates[chosen] - candidates[i]).max(axis=1)
        if gaps.min() > _MIN_START_GAP:
            chosen.append(int(i))
    return np.array(chosen)


def _lbfgsb(
    acq: LogEI, x: np.ndarray, values: np.ndarray, space: InputSpace
) -> tuple[np.ndarray, np.ndarray]:
    """Climb the continuous columns of each start; keep a start that did not improve."""
    columns = space.continuous
    x, values = x.copy(), values.copy()
    for i, start in enumerate(x):

        def negative(z: np.ndarray, start: np.ndarray = start) -> tuple[float, np.ndarray]:
            point = start.copy()
            point[columns] = z
            value, grad = acq.value_and_grad(point[None], columns)
            return -float(value[0]), -grad[0]

        result = scipy.optimize.minimize(
            negative,
            start[columns],
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * len(columns),
            options={"maxiter": 40, "ftol": 1e-5},
        )
        climbed = start.copy()
        climbed[columns] = result.x
        climbed = space.snap(climbed[None])
        value = float(acq(climbed)[0])
        if value > values[i]:
            x[i], values[i] = climbed[0], value
    return x, values


def _sweep_grids(
    acq: LogEI, x: np.ndarray, values: np.ndarray, space: InputSpace
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One pass of coordinate moves over the grid columns; whether any point moved."""
    moved = False
    for grid in space.grids:
        current = grid.index(x[:, grid.column])
        if grid.n <= MAX_ENUMERATED or grid.categorical:
            options = np.tile(np.arange(grid.n), (len(x), 1))
        else:
            steps = np.array([-8, -4, -2, -1, 1, 2, 4, 8])
            options = np.clip(current[:, None] + steps, 0, grid.n - 1)
        trial = np.repeat(x, options.shape[1], axis=0)
        trial[:, grid.column] = grid.position(options.ravel())
        scores = acq(trial).reshape(len(x), -1)
        best = np.argmax(scores, axis=1)
        gain = scores[np.arange(len(x)), best] > values
        if gain.any():
            moved = True
            rows = np.flatnonzero(gain)
            x[rows, grid.column] = grid.position(options[rows, best[rows]])
            values = np.where(gain, scores[np.arange(len(x)), best], values)
    return x, values, moved
