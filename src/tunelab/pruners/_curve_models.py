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
from scipy.special import stdtr

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
    """A family ``a + b * shape(x, q)``: linear in ``a`` and ``b``, not in ``q``.

    ``axes`` are the values of each shape parameter scanned first; their
    ends are the bounds that keep ``x ** -c`` and ``exp(-c x)`` finite on
    ``(0, 1]`` for horizons up to about a million steps.
    """

    name: str
    shape: Shape
    axes: tuple[Array, ...]


FAMILIES = (
    _Family("pow3", _pow3, (np.linspace(0.0, 2.0, 41),)),
    _Family("exp3", _exp3, (np.geomspace(0.05, 60.0, 41),)),
    _Family("janoschek", _janoschek, (np.geomspace(0.05, 60.0, 16), np.geomspace(0.05, 3.0, 10))),
    _Family("mmf", _mmf, (np.geomspace(1e-4, 10.0, 16), np.geomspace(0.1, 5.0, 10))),
)


@dataclass(frozen=True)
class Forecast:
    """A predictive distribution: a weighted mixture of scaled Student t distributions.

    Each component has as many degrees of freedom as its fit had points
    beyond its parameters: its noise is estimated from that few residuals,
    so a fit to a handful of points gets heavy tails.

    Attributes:
        means: Centre of each component.
        stds: Scale of each component (positive).
        dofs: Degrees of freedom of each component (at least 1).
        weights: Weight of each component (summing to one).
    """

    means: Array
    stds: Array
    dofs: Array
    weights: Array

    def prob_below(self, value: float) -> float:
        """The probability that a draw is below ``value``."""
        return float(np.sum(self.weights * stdtr(self.dofs, (value - self.means) / self.stds)))


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


def forecast(steps: Array, values: Array, horizon: float) -> Forecast | None:
    """Fit every family to ``values`` at ``steps`` and predict the value at ``horizon``.

    Each family ``a + b * shape(x, q)`` is fitted by variable projection:
    for given shape parameters ``q`` the best ``a`` and ``b`` are a linear
    least squares solution, so only ``q`` (one or two bounded numbers) is
    searched, on a grid refined once around its best point. Its prediction
    is a Student t whose variance adds the residual noise to the uncertainty
    of all parameters carried to the horizon (delta method), and the
    families are weighted by ``exp(-BIC / 2)``. Families with as many parameters as
    points, and fits that give non-finite numbers, are left out.

    Args:
        steps: Steps of the reports (increasing, at least 0).
        values: Finite values, smaller is better (the caller flips a maximised
            metric).
        horizon: The step to predict (at least the last of ``steps``).

    Returns:
        The forecast in the units of ``values``; None if no family could be fitted.
    """
    x = (steps + 1.0) / (horizon + 1.0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        z, loc, scale = _standardise(values)
        fits = [fit for family in FAMILIES if (fit := _fit_family(family, x, z))]
        if not fits:
            return None
        means, variances, dofs, bics = (np.asarray(column) for column in zip(*fits, strict=True))
        weights = np.exp(-0.5 * (bics - bics.min()))
        result = Forecast(
            means=loc + scale * means,
            stds=scale * np.sqrt(variances),
            dofs=dofs,
            weights=weights / weights.sum(),
        )
    finite = np.all(np.isfinite(result.means)) and np.all(np.isfinite(result.stds))
    return result if finite and np.all(result.stds > 0) else None


def _standardise(values: Array) -> tuple[Array, float, float]:
    """``values`` centred and scaled, with the centre and scale, computed without overflow.

    A flat curve gets the scale ``max(1, |centre|)``, so that its noise floor
    is relative to its level.
    """
    magnitude = float(np.max(np.abs(values)))
    magnitude = magnitude if magnitude > 0 else 1.0
    shrunk = values / magnitude
    loc = float(np.median(shrunk))
    spread = float(np.std(shrunk))
    spread = spread if spread > 1e-12 * max(1.0, abs(loc)) else max(1.0, abs(loc))
    return (shrunk - loc) / spread, loc * magnitude, spread * magnitude


def _fit_family(family: _Family, x: Array, z: Array) -> tuple[float, float, float, float] | None:
    """One family's predicted mean, variance and degrees of freedom at ``x = 1``, and its BIC."""
    n = z.size
    k = 2 + len(family.axes)
    if n <= k:
        return None
    fitted = _fit(family, x, z)
    if fitted is None:
        return None
    a, b, q = fitted
    rss = float(np.sum((a + b * family.shape(x, q) - z) ** 2))
    # A floor on the noise keeps a family that threads every point from
    # claiming certainty: no fit is trusted beyond the noise seen in the data.
    floor = max(noise_scale(z), 1e-3)
    noise_var = max(rss / (n - k), floor**2)
    mean = float(a + b * family.shape(np.ones(1), q)[0])
    variance = noise_var + _horizon_variance(family.shape, x, b, q, noise_var)
    bic = n * math.log(max(rss / n, floor**2)) + k * math.log(n)
    if not all(math.isfinite(v) for v in (mean, variance, bic)):
        return None
    return mean, variance, float(n - k), bic


def _linear_part(g: Array, z: Array) -> tuple[Array, Array, Array]:
    """Per row of ``g``: the ``a`` and ``b`` fitting ``a + b * g`` to ``z`` best, and the RSS."""
    g_mean = g.mean(axis=1, keepdims=True)
    centred = g - g_mean
    spread = np.sum(centred**2, axis=1)
    flat = spread <= 1e-12  # a shape that is constant over the reports: only a fits
    b = np.where(flat, 0.0, centred @ (z - z.mean()) / np.where(flat, 1.0, spread))
    a = z.mean() - b * g_mean[:, 0]
    rss = np.sum((a[:, None] + b[:, None] * g - z) ** 2, axis=1)
    return a, b, np.where(np.isfinite(rss), rss, np.inf)


def _fit(family: _Family, x: Array, z: Array) -> tuple[float, float, Array] | None:
    """Least-squares ``a``, ``b`` and ``q`` of ``family``, or None if no finite fit was found.

    ``a`` and ``b`` are solved exactly for every candidate ``q`` (variable
    projection); ``q`` is found by scanning its axes, then a finer grid
    around the best point. Both scans are single vectorised passes, an
    order of magnitude cheaper than an iterative solver on curves this
    short, and they cannot diverge.
    """
    axes = family.axes
    for _ in range(2):
        grid = np.stack([axis.ravel() for axis in np.meshgrid(*axes, indexing="ij")])
        a, b, rss = _linear_part(family.shape(x, grid[:, :, None]), z)
        best = int(np.argmin(rss))
        if not np.isfinite(rss[best]):
            return None
        index = np.unravel_index(best, tuple(axis.size for axis in axes))
        axes = tuple(
            np.linspace(axis[max(int(i) - 1, 0)], axis[min(int(i) + 1, axis.size - 1)], 11)
            for axis, i in zip(axes, index, strict=True)
        )
    return float(a[best]), float(b[best]), grid[:, best]


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
