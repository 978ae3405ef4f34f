"""Gaussian-process regression: hyperparameter fitting and the posterior.

Hyperparameters live in log space as one vector ``theta``: the length-scales
(one per parameter), the signal variance and, unless the objective is
deterministic, the noise variance. They maximise the log marginal likelihood
plus log-normal priors, with analytic gradients and L-BFGS-B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from tunelab.samplers._gp._kernel import matern52, scaled_squared_distances, squared_distances

# Added to the diagonal so the Cholesky factor exists for duplicate points.
_JITTER = 1e-8
# Noise variance of a deterministic objective (targets are standardised to unit variance).
_MIN_NOISE = 1e-6
_LOG_2PI = math.log(2.0 * math.pi)
# Prior median of a length-scale in one dimension of the unit cube.
_LENGTHSCALE_MEDIAN = 0.25
# Posterior variances below this are rounding noise.
_MIN_VARIANCE = 1e-12


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
    def default(cls, n_params: int, *, fit_noise: bool) -> Prior:
        """The prior for ``n_params`` length-scales, with or without a noise term."""
        mean = [math.log(_LENGTHSCALE_MEDIAN * math.sqrt(n_params))] * n_params + [0.0]
        std = [1.0] * n_params + [1.0]
        bounds = [(math.log(1e-2), math.log(1e3))] * n_params + [(math.log(1e-2), math.log(1e2))]
        if fit_noise:
            mean.append(math.log(1e-2))
            std.append(3.0)
            bounds.append((math.log(_MIN_NOISE), 0.0))
        return cls(np.array(mean), np.array(std), bounds)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A random ``theta`` from the prior, clipped into the bounds."""
        low, high = np.array(self.bounds).T
        return np.clip(rng.normal(self.mean, self.std), low, high)


@dataclass(frozen=True)
class KernelParams:
    """Kernel hyperparameters in natural units."""

    lengthscales: np.ndarray
    signal: float
    noise: float

    @classmethod
    def from_theta(cls, theta: np.ndarray, n_params: int) -> KernelParams:
        """Read a log-space vector (its noise entry may be missing: deterministic)."""
        noise = math.exp(theta[n_params + 1]) if len(theta) > n_params + 1 else _MIN_NOISE
        return cls(np.exp(theta[:n_params]), math.exp(theta[n_params]), noise)


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


def neg_log_posterior(
    theta: np.ndarray, dist: np.ndarray, y: np.ndarray, prior: Prior
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus log prior, and its gradient.

    Args:
        theta: Log hyperparameters (see :class:`Prior`).
        dist: Per-parameter distances between training points, shape ``(n * n, p)``.
        y: Standardised targets, shape ``(n,)``.
        prior: Priors on ``theta``.
    """
    n, n_params = len(y), dist.shape[1]
    params = KernelParams.from_theta(theta, n_params)
    inv_l2 = 1.0 / params.lengthscales**2
    corr, factor = matern52((dist @ inv_l2).reshape(n, n))
    k_f = params.signal * corr
    try:
        chol = _cholesky(k_f + (params.noise + _JITTER) * np.eye(n))
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = scipy.linalg.cho_solve((chol, True), y, check_finite=False)
    # d lml / d theta_j = tr(w @ dK/dtheta_j) / 2 with w = alpha alpha^T - K^-1.
    w = np.outer(alpha, alpha) - _inverse_from_cholesky(chol)
    lml = -0.5 * y @ alpha - np.log(np.diag(chol)).sum() - 0.5 * n * _LOG_2PI
    grad = np.empty_like(theta)
    grad[:n_params] = 0.5 * ((w * factor).ravel() @ dist) * params.signal * inv_l2
    grad[n_params] = 0.5 * np.sum(w * k_f)
    if len(theta) > n_params + 1:
        grad[n_params + 1] = 0.5 * params.noise * np.trace(w)
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
) -> np.ndarray:
    """The maximum-a-posteriori ``theta`` from a warm start and random prior draws.

    Args:
        x: Encoded training points, shape ``(n, p)``.
        y: Standardised targets, shape ``(n,)``.
        is_categorical: Which columns of ``x`` are categorical.
        deterministic: Fix the noise at a tiny value instead of fitting it.
        init: The previous fit, tried first (the prior mean when None).
        n_random_starts: Further starts drawn from the prior.
        rng: Source of the random starts.
        maxiter: L-BFGS-B iteration limit per start.
    """
    n_params = x.shape[1]
    prior = Prior.default(n_params, fit_noise=not deterministic)
    dist = squared_distances(x, x, is_categorical).reshape(-1, n_params)
    starts = [prior.mean.copy() if init is None else init]
    starts += [prior.sample(rng) for _ in range(n_random_starts)]
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        result = scipy.optimize.minimize(
            neg_log_posterior,
            start,
            args=(dist, y, prior),
            jac=True,
            method="L-BFGS-B",
            bounds=prior.bounds,
            options={"maxiter": maxiter},
        )
        if result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
    return np.asarray(best_theta, dtype=float)


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
        k = self._cross_kernel(x)[0] + (params.noise + _JITTER) * np.eye(len(x))
        self._chol = _cholesky(k)
        self._alpha = scipy.linalg.cho_solve((self._chol, True), y, check_finite=False)

    def _cross_kernel(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel between query and training points, and its gradient factor."""
        r2 = scaled_squared_distances(xq, self.x, self._inv_l2, self.is_categorical)
        corr, factor = matern52(r2)
        return self.params.signal * corr, self.params.signal * factor

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
        var = self.params.signal - np.einsum("ij,ij->j", v, v)
        return k @ self._alpha, np.maximum(var, _MIN_VARIANCE)

    def predict_with_grad(
        self, xq: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients along the numeric ``columns``.

        Returns:
            ``(mean, var, d_mean, d_var)``; the gradients have shape
            ``(len(xq), len(columns))``.
        """
        dist = squared_distances(xq, self.x, self.is_categorical)
        corr, factor = matern52(dist @ self._inv_l2)
        k, factor = self.params.signal * corr, self.params.signal * factor
        v = self._solve(k.T)
        var = self.params.signal - np.einsum("ij,ij->j", v, v)
        k_inv_k = self._solve(v, transposed=True).T
        diff = xq[:, None, columns] - self.x[None, :, columns]
        scale = self._inv_l2[columns]
        # dk_i/dx_c = -factor_i (x_c - X_ic) / l_c^2.
        d_mean = -np.einsum("qn,qnc->qc", factor * self._alpha, diff) * scale
        d_var = 2.0 * np.einsum("qn,qnc->qc", factor * k_inv_k, diff) * scale
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
