"""Gaussian-process regression: hyperparameter fitting and the posterior.

Hyperparameters live in log space as one vector ``theta``: the length-scales
(one per parameter), the signal variance, unless the objective is
deterministic the noise variance, with input warping the two shapes of a
Kumaraswamy CDF per warped parameter, and with a first-order additive part
its variance. They maximise the log marginal
likelihood plus log-normal priors, with analytic gradients and L-BFGS-B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from tunelab.samplers._gp._kernel import (
    column_distances,
    matern,
    matern_of_r,
    scaled_squared_distances,
    squared_distances,
)

# Added to the diagonal so the Cholesky factor exists for duplicate points.
_JITTER = 1e-8
# Noise variance of a deterministic objective (targets are standardised to unit variance).
_MIN_NOISE = 1e-6
_LOG_2PI = math.log(2.0 * math.pi)
# Prior median of a length-scale in one dimension of the unit cube.
_LENGTHSCALE_MEDIAN = 0.25
# Posterior variances below this are rounding noise.
_MIN_VARIANCE = 1e-12
# Inputs are kept this far inside (0, 1) before warping, where x^a and log x stay finite.
_WARP_EPS = 1e-6
# Prior spread and bounds of a warp's log shape parameters: a shape of 1 is no warp.
_WARP_STD = 0.75
_WARP_BOUND = 2.0
# Prior median of the additive part's variance, a tenth of the joint kernel's, loosely
# (a factor of 7 either way is one standard deviation): the data decide how much of the
# objective is a sum of one-parameter effects.
_ADDITIVE_MEDIAN = 0.1
_ADDITIVE_STD = 2.0


@dataclass(frozen=True)
class Prior:
    """Independent normal priors on ``theta`` and its box bounds.

    The length-scales' median grows as ``√p`` with the number of
    parameters, as distances in the unit cube do, so that points in many
    dimensions still correlate (Hvarfner et al., 2024); its base is short
    enough that a GP does not take an unexplored bowl for a slope. The
    signal variance centres on 1 (targets are standardised); the noise on
    1% of it, loosely (a factor of 20 either way is one standard deviation),
    so that noisy scores such as cross-validated metrics are recognised.
    """

    mean: np.ndarray
    std: np.ndarray
    bounds: list[tuple[float, float]]

    @classmethod
    def default(
        cls, n_params: int, *, fit_noise: bool, n_warped: int = 0, additive: bool = False
    ) -> Prior:
        """The prior for ``n_params`` length-scales, with or without a noise term,
        the two log shapes of each of ``n_warped`` input warps (centred on no warp),
        and with ``additive`` the additive part's variance.
        """
        mean = [math.log(_LENGTHSCALE_MEDIAN * math.sqrt(n_params))] * n_params + [0.0]
        std = [1.0] * n_params + [1.0]
        bounds = [(math.log(1e-2), math.log(1e3))] * n_params + [(math.log(1e-2), math.log(1e2))]
        if fit_noise:
            mean.append(math.log(1e-2))
            std.append(3.0)
            bounds.append((math.log(_MIN_NOISE), 0.0))
        mean += [0.0] * (2 * n_warped)
        std += [_WARP_STD] * (2 * n_warped)
        bounds += [(-_WARP_BOUND, _WARP_BOUND)] * (2 * n_warped)
        if additive:
            mean.append(math.log(_ADDITIVE_MEDIAN))
            std.append(_ADDITIVE_STD)
            bounds.append((math.log(1e-4), math.log(1e2)))
        return cls(np.array(mean), np.array(std), bounds)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A random ``theta`` from the prior, clipped into the bounds."""
        low, high = np.array(self.bounds).T
        return np.clip(rng.normal(self.mean, self.std), low, high)


@dataclass(frozen=True)
class Warp:
    """Kumaraswamy CDFs ``1 - (1 - x^a)^b`` bending some input columns of the unit cube.

    Monotone maps of ``[0, 1]`` onto itself: with ``a, b`` fitted to the data, a GP
    with one length-scale per input can stretch the region where the objective
    changes fast (near a bound, or a narrow basin) and squeeze the flat rest
    (Snoek et al., 2014, "Input Warping for Bayesian Optimization").

    Args:
        columns: Indices of the warped columns.
        a: First shape per warped column.
        b: Second shape per warped column.
    """

    columns: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The points ``x`` with their warped columns replaced by the warped values."""
        out = x.copy()
        out[:, self.columns] = self._parts(x[:, self.columns])[0]
        return out

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """``d warp / dx`` at every entry of ``x`` (1 for columns left alone)."""
        out = np.ones_like(x)
        xc = np.clip(x[:, self.columns], _WARP_EPS, 1.0 - _WARP_EPS)
        u = xc**self.a
        out[:, self.columns] = self.a * self.b * u / xc * (1.0 - u) ** (self.b - 1.0)
        return out

    def _parts(self, xw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Warped values of the warped columns and their derivatives in ``log a``, ``log b``."""
        xc = np.clip(xw, _WARP_EPS, 1.0 - _WARP_EPS)
        log_x = np.log(xc)
        u = np.exp(self.a * log_x)
        log_rest = np.log1p(-u)
        rest = np.exp(self.b * log_rest)
        d_log_a = self.b * np.exp((self.b - 1.0) * log_rest) * self.a * log_x * u
        d_log_b = -rest * log_rest * self.b
        return 1.0 - rest, d_log_a, d_log_b


@dataclass(frozen=True)
class KernelParams:
    """Kernel hyperparameters in natural units, the input warp if any, the
    Matérn smoothness ``nu`` (1.5 or 2.5), and the variance of the additive part.

    The kernel is ``signal * k(x, x')`` over all parameters jointly, plus, when
    ``additive`` is positive, ``additive * sum_p k(x_p, x'_p)``: one Matérn per
    parameter on the same length-scales, a first-order additive GP (Duvenaud et
    al., 2011). Where the objective is largely a sum of one-parameter effects, an
    observation then informs every point that shares one of its coordinates, not
    only its neighbourhood, so the model can move one parameter at a time.
    """

    lengthscales: np.ndarray
    signal: float
    noise: float
    warp: Warp | None = None
    nu: float = 2.5
    additive: float = 0.0

    @classmethod
    def from_theta(
        cls,
        theta: np.ndarray,
        n_params: int,
        warped: np.ndarray | None = None,
        *,
        nu: float = 2.5,
        additive: bool = False,
    ) -> KernelParams:
        """Read a log-space vector (its noise entry may be missing: deterministic).

        Args:
            theta: The vector, laid out as :class:`Prior` describes.
            n_params: Number of input columns.
            warped: Indices of the warped columns (their shapes end ``theta``).
            nu: The Matérn smoothness (not fitted: part of the model's choice).
            additive: ``theta`` ends with the additive part's log variance.
        """
        weight = 0.0
        if additive:
            weight, theta = math.exp(theta[-1]), theta[:-1]
        m = 0 if warped is None else len(warped)
        kernel = theta[: len(theta) - 2 * m]
        noise = math.exp(kernel[n_params + 1]) if len(kernel) > n_params + 1 else _MIN_NOISE
        warp = None
        if warped is not None and m:
            shapes = np.exp(theta[len(kernel) :])
            warp = Warp(np.asarray(warped), shapes[:m], shapes[m:])
        lengthscales, signal = np.exp(kernel[:n_params]), math.exp(kernel[n_params])
        return cls(lengthscales, signal, noise, warp, nu, weight)


def _cholesky(k: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, with more jitter if rounding made ``k`` indefinite."""
    jitter = 0.0
    for _ in range(4):
        try:
            return scipy.linalg.cholesky(
                k + jitter * np.eye(len(k)), lower=True, check_finite=False
            )
        except np.linalg.LinAlgError:
            jitter = max(10.0 * jitter, 1e-6 * float(np.mean(np.diag(k))))
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


def _inverse_from_cholesky(chol: np.ndarray) -> np.ndarray:
    inv, info = scipy.linalg.lapack.dpotri(chol, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri failed with info={info}")
    lower = np.tril(inv)
    return lower + np.tril(inv, -1).T


@dataclass(frozen=True)
class PairDistances:
    """``|x_i - x_j|`` and its square per parameter for the pairs ``i < j`` of the
    training points, which the additive part's likelihood needs (its matrix is
    symmetric with a constant diagonal, so the other half is not computed). Rows
    are parameters: numpy's elementwise functions run several times faster along
    one long row than along many rows of ten."""

    rows: np.ndarray
    cols: np.ndarray
    dist: np.ndarray
    squared: np.ndarray

    @classmethod
    def from_squared(cls, dist: np.ndarray, n: int) -> PairDistances:
        """From :func:`squared_distances` flattened to ``(n * n, p)``."""
        rows, cols = np.triu_indices(n, 1)
        squared = np.ascontiguousarray(dist.reshape(n, n, -1)[rows, cols].T)
        return cls(rows, cols, np.sqrt(squared), squared)


def neg_log_posterior(
    theta: np.ndarray,
    dist: np.ndarray,
    y: np.ndarray,
    prior: Prior,
    warped: tuple[np.ndarray, np.ndarray] | None = None,
    nu: float = 2.5,
    pairs: PairDistances | None = None,
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus log prior, and its gradient.

    Args:
        theta: Log hyperparameters (see :class:`Prior`).
        dist: Per-parameter distances between training points, shape ``(n * n, p)``
            (those of warped columns are recomputed from the warp).
        y: Standardised targets, shape ``(n,)``.
        prior: Priors on ``theta``.
        warped: With input warping, the warped column indices and those columns of
            the training points, shape ``(n, m)``.
        nu: The Matérn smoothness.
        pairs: With the additive part (``theta`` ends with its log variance), the
            training points' pair distances. Not combined with ``warped``.
    """
    n, n_params = len(y), dist.shape[1]
    additive = pairs is not None
    params = KernelParams.from_theta(
        theta, n_params, None if warped is None else warped[0], nu=nu, additive=additive
    )
    inv_l2 = 1.0 / params.lengthscales**2
    if params.warp is not None:
        assert warped is not None
        warped_values, d_log_a, d_log_b = params.warp._parts(warped[1])
        diff = warped_values[:, None, :] - warped_values[None, :, :]
        dist = dist.copy()
        dist[:, params.warp.columns] = (diff * diff).reshape(n * n, -1)
    corr, factor = matern((dist @ inv_l2).reshape(n, n), nu)
    k_f = params.signal * corr
    k = k_f
    if pairs is not None:
        corr_1d, factor_1d = matern_of_r(pairs.dist / params.lengthscales[:, None], nu)
        k_a = np.full((n, n), params.additive * n_params)  # each term is 1 at distance 0
        upper = params.additive * corr_1d.sum(axis=0)
        k_a[pairs.rows, pairs.cols] = k_a[pairs.cols, pairs.rows] = upper
        k = k_f + k_a
    try:
        chol = _cholesky(k + (params.noise + _JITTER) * np.eye(n))
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = scipy.linalg.cho_solve((chol, True), y, check_finite=False)
    # d lml / d theta_j = tr(w @ dK/dtheta_j) / 2 with w = alpha alpha^T - K^-1.
    w = np.outer(alpha, alpha) - _inverse_from_cholesky(chol)
    lml = -0.5 * y @ alpha - np.log(np.diag(chol)).sum() - 0.5 * n * _LOG_2PI
    grad = np.empty_like(theta)
    grad[:n_params] = 0.5 * ((w * factor).ravel() @ dist) * params.signal * inv_l2
    grad[n_params] = 0.5 * np.sum(w * k_f)
    if pairs is not None:
        # Each pair i < j stands for (i, j) and (j, i): the 1/2 of the trace cancels.
        pair_w = w[pairs.rows, pairs.cols]
        grad[:n_params] += (factor_1d * pairs.squared) @ pair_w * params.additive * inv_l2
        grad[-1] = 0.5 * np.sum(w * k_a)
    m = 0 if params.warp is None else len(params.warp.columns)
    if len(theta) - 2 * m - int(additive) > n_params + 1:
        grad[n_params + 1] = 0.5 * params.noise * np.trace(w)
    if params.warp is not None:
        # dK_ij/d shape = -signal g_ij / (2 l²) * d(dist_ij)/d shape, and with M = w * g
        # symmetric the double sum over pairs folds into one over points.
        m_mat = w * factor
        spread = warped_values * m_mat.sum(axis=1)[:, None] - m_mat @ warped_values
        scale = -params.signal * inv_l2[params.warp.columns]
        grad[len(theta) - 2 * m : len(theta) - m] = scale * np.sum(d_log_a * spread, axis=0)
        grad[len(theta) - m :] = scale * np.sum(d_log_b * spread, axis=0)
    z = (theta - prior.mean) / prior.std
    log_prior = -0.5 * float(z @ z)
    grad -= z / prior.std
    return -(lml + log_prior), -grad


def fit_hyperparameters(
    x: np.ndarray,
    y: np.ndarray,
    is_categorical: np.ndarray,
    *,
    deterministic: bool,
    init: np.ndarray | None,
    n_random_starts: int,
    rng: np.random.Generator,
    maxiter: int = 200,
    warp: bool = False,
    nu: float = 2.5,
    additive: bool = False,
) -> tuple[np.ndarray, float]:
    """The maximum-a-posteriori ``theta`` from a warm start and random prior draws,
    and its log posterior (log marginal likelihood plus log prior, up to a constant).

    Args:
        x: Encoded training points, shape ``(n, p)``.
        y: Standardised targets, shape ``(n,)``.
        is_categorical: Which columns of ``x`` are categorical.
        deterministic: Fix the noise at a tiny value instead of fitting it.
        init: The previous fit, tried first (the prior mean when None).
        n_random_starts: Further starts drawn from the prior.
        rng: Source of the random starts.
        maxiter: L-BFGS-B iteration limit per start.
        warp: Also fit a Kumaraswamy warp of every numeric column (see
            :func:`warped_columns`); its shapes end the returned vector.
        nu: The Matérn smoothness (1.5 or 2.5).
        additive: Also fit the variance of a first-order additive part (see
            :class:`KernelParams`); its log ends the returned vector. Not with ``warp``.
    """
    if warp and additive:
        raise ValueError("an additive kernel part cannot be combined with input warping")
    n_params = x.shape[1]
    columns = warped_columns(is_categorical) if warp else np.array([], dtype=int)
    prior = Prior.default(
        n_params, fit_noise=not deterministic, n_warped=len(columns), additive=additive
    )
    dist = squared_distances(x, x, is_categorical).reshape(-1, n_params)
    pairs = PairDistances.from_squared(dist, len(x)) if additive else None
    warped = (columns, x[:, columns]) if len(columns) else None
    starts = [prior.mean.copy() if init is None else init]
    starts += [prior.sample(rng) for _ in range(n_random_starts)]
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        result = scipy.optimize.minimize(
            neg_log_posterior,
            start,
            args=(dist, y, prior, warped, nu, pairs),
            jac=True,
            method="L-BFGS-B",
            bounds=prior.bounds,
            options={"maxiter": maxiter},
        )
        if result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
    return np.asarray(best_theta, dtype=float), -best_value


def warped_columns(is_categorical: np.ndarray) -> np.ndarray:
    """The columns an input warp bends: every numeric one (choices have no order)."""
    return np.flatnonzero(~is_categorical)


class GaussianProcess:
    """The posterior of a zero-mean GP given training points and hyperparameters.

    Args:
        x: Encoded training points, shape ``(n, p)``.
        y: Standardised targets, shape ``(n,)``.
        is_categorical: Which columns of ``x`` are categorical.
        params: Kernel hyperparameters.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, is_categorical: np.ndarray, params: KernelParams
    ) -> None:
        self.x, self.y, self.is_categorical, self.params = x, y, is_categorical, params
        self._inv_l2 = 1.0 / params.lengthscales**2
        self._prior_var = params.signal + params.additive * x.shape[1]
        # The kernel sees warped inputs; callers keep working in the unit cube.
        self._xw = x if params.warp is None else params.warp.apply(x)
        k = self._cross_kernel(x)[0] + (params.noise + _JITTER) * np.eye(len(x))
        self._chol = _cholesky(k)
        self._alpha = scipy.linalg.cho_solve((self._chol, True), y, check_finite=False)

    def prior_covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The prior kernel between the points ``a`` and ``b`` of the unit cube."""
        if self.params.warp is not None:
            a, b = self.params.warp.apply(a), self.params.warp.apply(b)
        return self._kernel(a, b)[0]

    def _cross_kernel(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel between query and training points, and its gradient factor."""
        if self.params.warp is not None:
            xq = self.params.warp.apply(xq)
        return self._kernel(xq, self._xw)

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel between warped points, and the joint part's gradient factor."""
        r2 = scaled_squared_distances(a, b, self._inv_l2, self.is_categorical)
        corr, factor = matern(r2, self.params.nu)
        k = self.params.signal * corr
        if self.params.additive:
            # Column by column: many candidates against many points would otherwise
            # build (and stream through memory) several (q, n, p) arrays.
            for col, scale in enumerate(self.params.lengthscales):
                dist = column_distances(a[:, col], b[:, col], self.is_categorical[col])
                k += self.params.additive * matern_of_r(dist / scale, self.params.nu)[0]
        return k, self.params.signal * factor

    def _solve(self, b: np.ndarray, *, transposed: bool = False) -> np.ndarray:
        """``L⁻¹ b`` (or ``L⁻ᵀ b``) straight from LAPACK, which the acquisition's
        many single-point calls need without wrapper overhead.

        Triangular solves keep the variance accurate when ``K`` is ill-conditioned
        (long length-scales, tiny noise), where an explicit inverse would lose it
        to cancellation.
        """
        out, info = scipy.linalg.lapack.dtrtrs(self._chol, b, lower=1, trans=int(transposed))
        if info != 0:
            raise np.linalg.LinAlgError(f"dtrtrs failed with info={info}")
        return np.asarray(out)

    def predict(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at ``xq``."""
        k, _ = self._cross_kernel(xq)
        v = self._solve(k.T)
        var = self._prior_var - np.einsum("ij,ij->j", v, v)
        return k @ self._alpha, np.maximum(var, _MIN_VARIANCE)

    def predict_with_grad(
        self, xq: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients along the numeric ``columns``.

        Returns:
            ``(mean, var, d_mean, d_var)``; the gradients have shape
            ``(len(xq), len(columns))``.
        """
        chain = None
        if self.params.warp is not None:
            chain = self.params.warp.derivative(xq)[:, columns]
            xq = self.params.warp.apply(xq)
        dist = squared_distances(xq, self._xw, self.is_categorical)
        corr, factor = matern(dist @ self._inv_l2, self.params.nu)
        k, factor = self.params.signal * corr, self.params.signal * factor
        diff = xq[:, None, columns] - self._xw[None, :, columns]
        # dk_i/dx_c = -factor_ic (x_c - X_ic) / l_c^2: the joint kernel's factor, plus
        # with the additive part the factor of column c's own term.
        factor_c = np.broadcast_to(factor[:, :, None], diff.shape)
        if self.params.additive:
            corr_1d, factor_1d = matern_of_r(
                np.sqrt(dist) / self.params.lengthscales, self.params.nu
            )
            k = k + self.params.additive * corr_1d.sum(axis=2)
            factor_c = factor_c + self.params.additive * factor_1d[:, :, columns]
        v = self._solve(k.T)
        var = self._prior_var - np.einsum("ij,ij->j", v, v)
        k_inv_k = self._solve(v, transposed=True).T
        scale = self._inv_l2[columns]
        d_mean = -np.einsum("qnc,n,qnc->qc", factor_c, self._alpha, diff) * scale
        d_var = 2.0 * np.einsum("qnc,qn,qnc->qc", factor_c, k_inv_k, diff) * scale
        if chain is not None:
            d_mean, d_var = d_mean * chain, d_var * chain
        floored = var < _MIN_VARIANCE
        d_var[floored] = 0.0
        return k @ self._alpha, np.maximum(var, _MIN_VARIANCE), d_mean, d_var

    def with_pseudo_observations(self, xp: np.ndarray, values: np.ndarray) -> GaussianProcess:
        """The posterior after also observing ``values`` at ``xp``, same hyperparameters."""
        if len(xp) == 0:
            return self
        return GaussianProcess(
            np.vstack([self.x, xp]),
            np.concatenate([self.y, values]),
            self.is_categorical,
            self.params,
        )
