"""Parametric learning-curve families and their weighted extrapolation to a far step.

Every family has the shape ``a + b * g(x)``: ``a`` is where the curve ends,
``b * g(x)`` the part still to be learnt. Fits run on a normalised problem:
``x = (step + 1) / (horizon + 1)`` lies in ``(0, 1]`` so the prediction is the
value at ``x = 1``, and values are centred and scaled so that one set of
bounds and starting points suits losses, accuracies and anything else.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.special import ndtr

Array = NDArray[np.float64]
Shape = Callable[[Array, Array], Array]


def _pow3(x: Array, q: Array) -> Array:
    return x ** (-q[0])


def _exp3(x: Array, q: Array) -> Array:
    return np.exp(-q[0] * x)


def _janoschek(x: Array, q: Array) -> Array:
    return np.exp(-q[0] * x ** q[1])


def _mmf(x: Array, q: Array) -> Array:
    # Morgan-Mercer-Flodin (the "log power" of learning-curve papers): a
    # sigmoid in log x, which also fits curves with a slow start.
    return 1.0 / (1.0 + (x / q[0]) ** q[1])


@dataclass(frozen=True)
class _Family:
    """A family ``a + b * shape(x, q)``: linear in ``a`` and ``b``, not in ``q``."""

    name: str
    shape: Shape
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    grid: tuple[tuple[float, ...], ...]  # starting values of q to pick the best from


# Bounds keep x ** -c and exp(-c x) finite on (0, 1] for horizons up to
# about a million steps.
FAMILIES = (
    _Family("pow3", _pow3, (0.0,), (2.0,), ((0.1,), (0.3,), (0.6,), (1.0,), (1.5,))),
    _Family("exp3", _exp3, (0.0,), (60.0,), ((0.5,), (2.0,), (6.0,), (15.0,), (40.0,))),
    _Family(
        "janoschek",
        _janoschek,
        (0.0, 0.05),
        (60.0, 3.0),
        tuple((c, d) for c in (1.0, 5.0, 20.0) for d in (0.3, 1.0, 2.0)),
    ),
    _Family(
        "mmf",
        _mmf,
        (1e-4, 0.1),
        (10.0, 5.0),
        tuple((s, c) for s in (0.01, 0.1, 0.5) for c in (0.5, 1.0, 2.5)),
    ),
)


@dataclass(frozen=True)
class Forecast:
    """A predictive distribution: a weighted mixture of normals.

    Attributes:
        means: Mean of each component.
        stds: Standard deviation of each component (positive).
        weights: Weight of each component (summing to one).
    """

    means: Array
    stds: Array
    weights: Array

    def prob_below(self, value: float) -> float:
        """The probability that a draw is below ``value``."""
        return float(np.sum(self.weights * ndtr((value - self.means) / self.stds)))


def noise_scale(y: Array) -> float:
    """A robust estimate of the per-report noise, blind to smooth trends.

    Second differences cancel any locally linear trend; their median absolute
    deviation, rescaled, estimates the standard deviation of white noise
    (a second difference of white noise has variance ``6 * sigma**2``).
    """
    if y.size < 3:
        return 0.0
    second = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(second - np.median(second))) / math.sqrt(6.0))


def forecast(steps: Array, values: Array, horizon: float, max_nfev: int) -> Forecast | None:
    """Fit every family to ``values`` at ``steps`` and predict the value at ``horizon``.

    Each family ``a + b * shape(x, q)`` is fitted by variable projection: for
    given shape parameters ``q`` the best ``a`` and ``b`` are a linear least
    squares solution, so bounded ``least_squares`` searches only over ``q``
    (one or two numbers), started from the best of a few grid points. Its
    prediction is a normal whose variance adds the residual noise to the
    uncertainty of all parameters carried to the horizon (delta method), and
    families are weighted by ``exp(-BIC / 2)``. Families with as many
    parameters as points, and fits that fail or give non-finite numbers, are
    left out.

    Args:
        steps: Steps of the reports (increasing, at least 0).
        values: Finite values, smaller is better (the caller flips a maximised
            metric).
        horizon: The step to predict (at least the last of ``steps``).
        max_nfev: Most evaluations of the residuals per fit.

    Returns:
        The forecast in the units of ``values``; None if no family could be fitted.
    """
    x = (steps + 1.0) / (horizon + 1.0)
    loc = float(np.median(values))
    scale = float(np.std(values))
    scale = scale if scale > 1e-12 * max(1.0, abs(loc)) else max(1.0, abs(loc))
    z = (values - loc) / scale
    n = z.size
    # A floor on the noise keeps a family that threads every point from
    # claiming certainty: no fit is trusted beyond the noise seen in the data.
    floor = max(noise_scale(z), 1e-3)
    means, variances, bics = [], [], []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for family in FAMILIES:
            k = 2 + len(family.lower)
            if n <= k:
                continue
            fitted = _fit(family, x, z, max_nfev)
            if fitted is None:
                continue
            a, b, q = fitted
            rss = float(np.sum((a + b * family.shape(x, q) - z) ** 2))
            noise_var = max(rss / (n - k), floor**2)
            mean = float(a + b * family.shape(np.ones(1), q)[0])
            param_var = _horizon_variance(family.shape, x, b, q, noise_var)
            bic = n * math.log(max(rss / n, floor**2)) + k * math.log(n)
            if not all(math.isfinite(v) for v in (mean, param_var, bic)):
                continue
            means.append(mean)
            variances.append(noise_var + param_var)
            bics.append(bic)
    if not means:
        return None
    weights = np.exp(-0.5 * (np.asarray(bics) - min(bics)))
    return Forecast(
        means=loc + scale * np.asarray(means),
        stds=scale * np.sqrt(np.asarray(variances)),
        weights=weights / weights.sum(),
    )


def _linear_part(g: Array, z: Array) -> tuple[float, float]:
    """The ``a`` and ``b`` that fit ``a + b * g`` to ``z`` best in least squares."""
    g_mean, z_mean = float(g.mean()), float(z.mean())
    centred = g - g_mean
    spread = float(centred @ centred)
    b = float(centred @ (z - z_mean)) / spread if spread > 1e-12 else 0.0
    return z_mean - b * g_mean, b


def _fit(family: _Family, x: Array, z: Array, max_nfev: int) -> tuple[float, float, Array] | None:
    """Fitted ``a``, ``b`` and ``q`` of ``family``, or None if no finite fit was found."""

    def residuals(q: Array) -> Array:
        g = family.shape(x, q)
        a, b = _linear_part(g, z)
        return a + b * g - z

    best: tuple[float, Array] | None = None
    for start in family.grid:
        q = np.asarray(start)
        rss = float(np.sum(residuals(q) ** 2))
        if math.isfinite(rss) and (best is None or rss < best[0]):
            best = (rss, q)
    if best is None:
        return None
    try:
        result = least_squares(
            residuals,
            best[1],
            bounds=(family.lower, family.upper),
            max_nfev=max_nfev,
            # Learning curves are noisy: three digits of the shape are plenty.
            ftol=1e-3,
            xtol=1e-3,
        )
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return None
    q = result.x if np.all(np.isfinite(result.fun)) and result.cost * 2 <= best[0] else best[1]
    g = family.shape(x, q)
    if not np.all(np.isfinite(g)):
        return None
    a, b = _linear_part(g, z)
    return a, b, q


def _horizon_variance(shape: Shape, x: Array, b: float, q: Array, noise_var: float) -> float:
    """Variance of the fitted curve at ``x = 1`` from the uncertainty of ``a``, ``b``, ``q``.

    The parameters' covariance is ``noise_var * (J^T J)^+`` with ``J`` the
    curve's Jacobian at the reports; a direction the data does not pin down
    gets a large variance, so a poorly determined extrapolation is not
    trusted.
    """
    points = np.append(x, 1.0)
    columns = [np.ones_like(points), shape(points, q)]
    for i in range(q.size):
        h = 1e-6 * max(1.0, abs(float(q[i])))
        up, down = q.copy(), q.copy()
        up[i] += h
        down[i] -= h
        columns.append(b * (shape(points, up) - shape(points, down)) / (2 * h))
    full = np.column_stack(columns)
    jac, grad = full[:-1], full[-1]
    if not np.all(np.isfinite(full)):
        return math.inf
    try:
        cov = noise_var * np.linalg.pinv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return math.inf
    return float(max(grad @ cov @ grad, 0.0))
