"""Parzen estimators: weighted mixtures of product kernels over observations, plus a prior.

Numeric dimensions live on [0, 1] (see :mod:`._axes`) and get Gaussian kernels
truncated to that interval; categorical dimensions get a kernel that puts most
of its mass on the observed choice and spreads the rest evenly. One extra
component, the prior (a wide Gaussian centred on each numeric axis, uniform
over choices), keeps the density positive everywhere and lets the search
explore.

Kernel widths follow the gaps between neighbouring observations, dimension by
dimension (as in hyperopt and Optuna), so they adapt to where points cluster.

The densities of a whole batch of candidates are one matrix computation: the
squared distances of every dimension, categorical matches included, expand
into a single product, so evaluating ``m`` candidates against ``n``
observations costs one ``m × n`` BLAS call plus one log-sum-exp, whatever the
number of dimensions.

Arrays are dimension-major (one row per dimension, one column per point):
columns of the history stack without copies, and per-dimension arithmetic
runs on contiguous rows, in place where it can, so large studies do not pay
for fresh temporaries on every ask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Kernels never get narrower than 1 / _MAX_RESOLUTION of an axis.
_MAX_RESOLUTION = 100
_PRIOR_MEAN = 0.5
_PRIOR_SIGMA = 1.0
# Normal tail probabilities ndtr(-t) for t in [0, _TAIL_END], _TAIL_RESOLUTION
# points per unit; beyond the end the tail is below 1e-18.
_TAIL_END = 9.0
_TAIL_RESOLUTION = 128
_TAIL_TABLE = ndtr(-np.linspace(0.0, _TAIL_END, round(_TAIL_END * _TAIL_RESOLUTION) + 1))
# Log-sum-exp terms this far below a row's largest are negligible.
_LOG_NEGLIGIBLE = -60.0
# Kernels per block of a density evaluation.
_BLOCK = 2048


@dataclass(frozen=True)
class Observations:
    """Encoded points of one group of dimensions, one row per dimension.

    Attributes:
        numeric: ``(dn, n)`` positions on [0, 1].
        categorical: ``(dc, n)`` choice indices.
        weights: ``(n,)`` non-negative weights.
        orders: Optionally, for each numeric dimension, the permutation that
            sorts its row (saves sorting large sets on every ask).
    """

    numeric: np.ndarray
    categorical: np.ndarray
    weights: np.ndarray
    orders: Sequence[np.ndarray] | None = None


@dataclass(frozen=True)
class Kernels:
    """How the dimensions of a group are modelled.

    Attributes:
        n_choices: Number of choices of each categorical dimension.
        min_bandwidth: ``(dn,)`` smallest kernel width of each numeric dimension.
        consider_endpoints: Count the ends of the axis as neighbours of the
            outermost observations when sizing kernels.
        prior_weight: Weight of the prior component (each observation's is its weight).
    """

    n_choices: Sequence[int]
    min_bandwidth: np.ndarray
    consider_endpoints: bool
    prior_weight: float


class ParzenEstimator:
    """A mixture density over the observations of one group, with a prior component.

    Args:
        obs: The observations (possibly none: then the density is the prior).
        kernels: How each dimension is modelled.
    """

    def __init__(self, obs: Observations, kernels: Kernels) -> None:
        n = obs.numeric.shape[1]
        self._mu = obs.numeric
        self._cat = obs.categorical.astype(np.intp, copy=False)
        self._n_choices = list(kernels.n_choices)
        self._sigma = _bandwidths(self._mu, obs.orders, kernels)
        # Categorical kernels sharpen as evidence accumulates, like the numeric ones.
        self._eta = 1.0 / math.sqrt(n + 1.0)
        self._delta = np.log1p((1.0 - self._eta) * np.array(self._n_choices) / self._eta)
        total = float(obs.weights.sum()) + kernels.prior_weight
        self._cum_w = np.cumsum(np.append(obs.weights, kernels.prior_weight) / total)
        self._log_prior_w = math.log(kernels.prior_weight / total)
        with np.errstate(divide="ignore"):
            self._log_w = np.log(obs.weights / total)
        # Off-choice mass of every categorical kernel, with the Gaussians' constant.
        self._log_const = sum(math.log(self._eta / k) for k in self._n_choices) - (
            self._mu.shape[0] * _LOG_SQRT_2PI
        )

    def _expand(self, block: slice) -> tuple[np.ndarray, np.ndarray]:
        """For the kernels in ``block``: rows ``[-1/(2 s^2), mu/s^2, one-hot]`` and constants.

        ``-(x - mu)^2 / (2 s^2) = x^2 * (-1/(2 s^2)) + x * (mu/s^2) - mu^2/(2 s^2)``, so
        every kernel's log density at a point is a dot product plus a constant.
        Blocks keep the temporaries small however many observations there are.
        """
        mu, sigma = self._mu[:, block], self._sigma[:, block]
        n_numeric, n = mu.shape
        out = np.empty((2 * n_numeric + sum(self._n_choices), n))
        quad, lin = out[:n_numeric], out[n_numeric : 2 * n_numeric]
        np.square(sigma, out=quad)
        np.reciprocal(quad, out=quad)
        np.multiply(mu, quad, out=lin)
        const = self._log_w[block] + self._log_const
        const -= 0.5 * np.einsum("ij,ij->j", mu, lin)
        const -= np.log(sigma).sum(axis=0)
        const -= _log_mass_inside(mu, sigma).sum(axis=0)
        quad *= -0.5
        out[2 * n_numeric :] = self._onehot(self._cat[:, block], None)
        return out, const

    def _onehot(self, cat: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        """Stacked one-hot rows of the categorical dimensions, optionally scaled per dimension."""
        n = cat.shape[1]
        out = np.zeros((sum(self._n_choices), n))
        columns = np.arange(n)
        offset = 0
        for d, k in enumerate(self._n_choices):
            out[offset + cat[d], columns] = 1.0 if scale is None else scale[d]
            offset += k
        return out

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``size`` points: ``(dn, size)`` positions and ``(dc, size)`` choice indices."""
        n_numeric, n = self._mu.shape
        comp = np.minimum(np.searchsorted(self._cum_w, rng.random(size), side="right"), n)
        from_prior = comp == n
        # Index with the prior as one more column, so no observation is needed.
        mu = np.hstack([self._mu, np.full((n_numeric, 1), _PRIOR_MEAN)])[:, comp]
        sd = np.hstack([self._sigma, np.full((n_numeric, 1), _PRIOR_SIGMA)])[:, comp]
        low, high = ndtr(-mu / sd), ndtr((1.0 - mu) / sd)
        u = low + rng.random(mu.shape) * (high - low)
        numeric = np.clip(mu + sd * ndtri(u), 0.0, 1.0)
        observed = np.hstack([self._cat, np.zeros((len(self._n_choices), 1), dtype=np.intp)])
        categorical = np.empty((len(self._n_choices), size), dtype=np.intp)
        for d, k in enumerate(self._n_choices):
            uniform = from_prior | (rng.random(size) < self._eta)
            categorical[d] = np.where(uniform, rng.integers(k, size=size), observed[d, comp])
        return numeric, categorical

    def log_pdf(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Log density at ``m`` points: ``(dn, m)`` positions and ``(dc, m)`` choice indices."""
        categorical = categorical.astype(np.intp, copy=False)
        prior = self._log_prior(numeric)
        if not self._mu.shape[1]:
            return prior
        query = np.vstack([numeric * numeric, numeric, self._onehot(categorical, self._delta)]).T
        total = prior
        for start in range(0, self._mu.shape[1], _BLOCK):
            matrix, const = self._expand(slice(start, start + _BLOCK))
            log_k = query @ matrix
            log_k += const
            total = np.logaddexp(total, _log_sum_exp_rows(log_k))
        return total

    def _log_prior(self, numeric: np.ndarray) -> np.ndarray:
        z = (numeric - _PRIOR_MEAN) / _PRIOR_SIGMA
        log_pdf = -0.5 * z * z - _LOG_SQRT_2PI - math.log(_PRIOR_SIGMA) - _PRIOR_LOG_MASS
        uniform = -sum(math.log(k) for k in self._n_choices)
        return self._log_prior_w + log_pdf.sum(axis=0) + uniform


def _bandwidths(
    mu: np.ndarray, orders: Sequence[np.ndarray] | None, kernels: Kernels
) -> np.ndarray:
    """``(dn, n)`` kernel widths on [0, 1]: per dimension, the gap to the farther neighbour.

    Widths adapt to the local density of observations, dimension by dimension,
    within a floor that shrinks as observations accumulate (to 1/100 of the axis).
    """
    n = mu.shape[1]
    floor = np.maximum(kernels.min_bandwidth, 1.0 / min(_MAX_RESOLUTION, n + 2))
    sigma = np.empty(mu.shape)
    for d, row in enumerate(mu):
        order = np.argsort(row, kind="stable") if orders is None else orders[d]
        sigma[d] = _neighbour_gaps(row, order, kernels.consider_endpoints)
        np.clip(sigma[d], floor[d], 1.0, out=sigma[d])
    return sigma


def _neighbour_gaps(mu: np.ndarray, order: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """For each point, the distance to its farther neighbour on the axis (``order`` sorts ``mu``).

    The ends of the axis are neighbours of a lone point; with several points
    they count for the outermost ones only when ``consider_endpoints`` asks.
    """
    steps = np.diff(np.concatenate([[0.0], mu[order], [1.0]]))
    gaps = np.maximum(steps[:-1], steps[1:])
    if not consider_endpoints and len(mu) >= 2:
        gaps[0], gaps[-1] = steps[1], steps[-2]
    out = np.empty_like(mu)
    out[order] = gaps
    return out


def _log_mass_inside(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log of the mass each Gaussian ``N(mu, sigma)`` puts on [0, 1], for ``mu`` in [0, 1].

    That is one minus two tails, each a function of one distance in units of
    sigma. The tails come from a table of the normal CDF, linearly
    interpolated (absolute error below 2e-6, while the mass is at least 0.34):
    exact CDFs for thousands of kernels would cost more than the rest of an ask.
    """
    return np.log1p(-(_tail(mu / sigma) + _tail((1.0 - mu) / sigma)))


def _tail(t: np.ndarray) -> np.ndarray:
    """``ndtr(-t)`` for ``t >= 0``, interpolated in :data:`_TAIL_TABLE`."""
    position = np.minimum(t, _TAIL_END) * _TAIL_RESOLUTION
    cell = np.minimum(position.astype(np.intp), len(_TAIL_TABLE) - 2)
    left = _TAIL_TABLE[cell]
    return left + (position - cell) * (_TAIL_TABLE[cell + 1] - left)


_PRIOR_LOG_MASS = float(_log_mass_inside(np.array([_PRIOR_MEAN]), np.array([_PRIOR_SIGMA]))[0])


def _log_sum_exp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))``, in place on ``a`` to spare a large temporary.

    Terms more than 60 below a row's largest are raised to that floor before
    ``exp``: they change the sum by less than 1e-22 of it per term, and
    underflowing exponentials run several times slower.
    """
    peak = a.max(axis=1)
    peak[~np.isfinite(peak)] = 0.0
    a -= peak[:, None]
    np.maximum(a, _LOG_NEGLIGIBLE, out=a)
    np.exp(a, out=a)
    return np.log(a.sum(axis=1)) + peak
