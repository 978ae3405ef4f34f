"""Encodings for the GP: parameters to the unit cube, objective values to a normal scale."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceTransform,
)

# Candidate Yeo–Johnson exponents: compressing the upper tail only (<= 1), and
# no harder than -3, beyond which they only chase a few extreme points.
_LAMBDAS = np.round(np.linspace(-3.0, 1.0, 81), 10)
# Grids up to this size are searched value by value rather than by gradient.
MAX_ENUMERATED = 16
# A maximum this many interquartile ranges above the median makes a heavy tail:
# about 7 standard deviations for normal data.
_HEAVY_TAIL = 5.0
# The chi-squared(1) quantile at 99%: the transform must beat no transform by a
# likelihood-ratio test at the 1% level (0.5% in effect: exponents above 1 are never used).
_SKEW_CHI2 = 6.63


@dataclass(frozen=True)
class GridAxis:
    """A column that only takes finitely many positions in the unit interval.

    Position ``k`` of a numeric grid is the encoding of ``low + k * step``;
    categorical choice ``k`` sits at the centre of bin ``k`` of ``n`` equal bins.
    """

    column: int
    n: int
    offset: float
    scale: float
    low: float = 0.0
    step: float = 1.0
    log: bool = False
    categorical: bool = False

    def index(self, u: np.ndarray) -> np.ndarray:
        """Index of the grid position nearest to (numeric) or containing (categorical) ``u``."""
        if self.categorical:
            k = np.floor(u * self.n)
        else:
            value = (u - self.offset) / self.scale
            if self.log:
                value = np.exp(value)
            k = np.round((value - self.low) / self.step)
        return np.clip(k, 0, self.n - 1).astype(int)

    def position(self, k: np.ndarray) -> np.ndarray:
        """Encoded position of grid index ``k``."""
        if self.categorical:
            return (k + 0.5) / self.n
        value = self.low + k * self.step
        return self.offset + self.scale * (np.log(value) if self.log else value)


class InputSpace:
    """The search space as the GP sees it: one column per parameter in ``[0, 1]``.

    Numeric parameters are encoded as :class:`SearchSpaceTransform` does
    (log-scaled where asked); categorical ones take one column whose bins are
    the choices, compared by the kernel as equal or not.

    Args:
        space: Parameter name to distribution.
    """

    def __init__(self, space: Mapping[str, BaseDistribution]) -> None:
        self.transform = SearchSpaceTransform(space, categorical="index")
        self.dim = self.transform.n_columns
        self.is_categorical = np.zeros(self.dim, dtype=bool)
        self.grids: list[GridAxis] = []
        for column, (name, dist) in enumerate(self.transform.space.items()):
            if isinstance(dist, CategoricalDistribution):
                self.is_categorical[column] = True
                self.grids.append(GridAxis(column, len(dist.choices), 0.0, 1.0, categorical=True))
            elif isinstance(dist, IntDistribution) or (
                isinstance(dist, FloatDistribution) and dist.step is not None
            ):
                self.grids.append(self._numeric_grid(column, name, dist))
        # Long numeric grids are climbed as if continuous, then snapped; short
        # ones and categories are searched by trying their values.
        enumerated = [g.column for g in self.grids if g.categorical or g.n <= MAX_ENUMERATED]
        self.continuous = np.setdiff1d(np.arange(self.dim), enumerated)

    def _numeric_grid(
        self, column: int, name: str, dist: FloatDistribution | IntDistribution
    ) -> GridAxis:
        step = float(dist.step or 1.0)
        # The encoding is affine in the value (or its log): read it off the two ends.
        single = SearchSpaceTransform({name: dist})
        u_low = single.encode({name: dist.low})[0]
        u_high = single.encode({name: dist.high})[0]
        g_low, g_high = (
            (math.log(dist.low), math.log(dist.high)) if dist.log else (dist.low, dist.high)
        )
        scale = (u_high - u_low) / (g_high - g_low)
        n = round((dist.high - dist.low) / step) + 1
        return GridAxis(column, n, u_low - scale * g_low, scale, dist.low, step, dist.log)

    def encode(self, params: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode parameter dicts to rows of shape ``(len(params), dim)``."""
        rows = [self.transform.encode(p) for p in params]
        return np.array(rows, dtype=float).reshape(len(rows), self.dim)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """The parameter dict of one encoded point."""
        return self.transform.decode(x)

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Move every grid column of the points ``x`` to its nearest valid position."""
        x = np.clip(x, 0.0, 1.0)
        for grid in self.grids:
            x[:, grid.column] = grid.position(grid.index(x[:, grid.column]))
        return x

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` scrambled Sobol points of the space, snapped to the grids."""
        sobol = qmc.Sobol(self.dim, scramble=True, seed=rng)
        with warnings.catch_warnings():
            # Balance properties only hold for powers of two; spread is what matters here.
            warnings.simplefilter("ignore", UserWarning)
            return self.snap(sobol.random(n))

    def perturb(
        self, centres: np.ndarray, n_per_centre: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Random neighbours of ``centres`` at several scales, for local starts."""
        points = np.repeat(centres, n_per_centre, axis=0)
        scales = rng.choice([0.01, 0.05, 0.2], size=(len(points), 1))
        points = points + scales * rng.standard_normal(points.shape)
        for grid in self.grids:
            if grid.categorical:
                # Choices have no neighbours: switch to a random one now and then.
                switch = rng.random(len(points)) < 0.2
                points[switch, grid.column] = rng.random(int(switch.sum()))
        return self.snap(points)


def normalize_objective(values: np.ndarray, *, skew_test: bool = True) -> np.ndarray:
    """Standardise values to minimise, first taming a heavy or skewed upper (bad) tail.

    When the worst values lie far out (a diverged run scoring 1e6 next to
    scores near 1, losses spread over decades) a Yeo–Johnson transform
    pulls them in, as HEBO does; otherwise they would dominate the GP's fit.
    Its exponent is the maximum-likelihood one, capped at 1 so that it only
    ever compresses the bad end and never the good end, where resolution
    matters. The transform is also used when the values are clearly skewed
    that way without any far outlier (polynomial objectives such as
    Rosenbrock's, whose values at random points span decades): when it
    beats no transform by a likelihood-ratio test at the 1% level. Data
    passing neither test are only standardised, so roughly normal values
    keep their shape. Centring on the median and scaling by the
    interquartile range before the transform keeps ordinary values spread
    out however far the outliers lie. Every step is monotone.

    Args:
        values: Objective values to minimise.
        skew_test: Also transform merely skewed values (the heavy-tail rule
            always applies).
    """
    return objective_encodings(values, skew_test=skew_test)[0][0]


def objective_encodings(
    values: np.ndarray, *, skew_test: bool = True
) -> list[tuple[np.ndarray, float]]:
    """Candidate standardised encodings of values to minimise, each with the log
    Jacobian of the map from the values, for the GP's evidence to choose from.

    The first is :func:`normalize_objective`'s. When every value is positive
    and that one transforms them, a second is Box–Cox of the values
    themselves (exponent 0 is the logarithm), by maximum likelihood capped
    at 1. Box–Cox keeps zero as the origin and so resolves the good end by
    ratios: for positive values over decades (Rosenbrock's) 500 and 5000
    stay far apart, where the median-centred Yeo–Johnson puts both next to
    the best value once the median is 1e5, and the GP, seeing a flat
    valley, leaves it. But near an optimum at zero the logarithm is a cusp
    no smooth GP fits, so neither is right everywhere: the caller keeps the
    one whose GP explains the values best (its marginal likelihood of the
    original values: the encoded values' plus the log Jacobian).

    Args:
        values: Objective values to minimise.
        skew_test: As for :func:`normalize_objective` (both encodings obey it).
    """
    values = _clip_infinite(values)
    z, log_jacobian = _robust_scale(values)
    lam, gain = _best_lambda(z)
    fired = z.max() > _HEAVY_TAIL or (skew_test and gain > _SKEW_CHI2)
    if fired:
        transformed = yeo_johnson(z, lam)
        if np.all(np.isfinite(transformed)) and np.ptp(transformed) > 0.0:
            log_jacobian += (lam - 1.0) * float(np.sum(np.sign(z) * np.log1p(np.abs(z))))
            z = transformed
    encodings = [_standardize_with_jacobian(z, log_jacobian)]
    if fired and values.min() > 0.0:
        # Divided by their geometric mean, Box–Cox is free of the values' unit.
        log_values = np.log(values)
        log_mean = float(np.mean(log_values))
        ratios = np.exp(log_values - log_mean)
        ratio_lam, _ = _best_lambda(ratios, box_cox)
        transformed = box_cox(ratios, ratio_lam)
        if np.all(np.isfinite(transformed)) and np.ptp(transformed) > 0.0:
            log_jacobian = -len(values) * log_mean + (ratio_lam - 1.0) * float(
                np.sum(log_values - log_mean)
            )
            encodings.append(_standardize_with_jacobian(transformed, log_jacobian))
    return encodings


def box_cox(x: np.ndarray, lam: float | np.ndarray) -> np.ndarray:
    """The Box–Cox transform of positive ``x`` for one exponent or a column of them."""
    lam = np.asarray(lam, dtype=float)[..., None]
    log_x = np.log(x)
    near0 = np.abs(lam) < 1e-8
    return np.where(near0, log_x, np.expm1(lam * log_x) / np.where(near0, 1.0, lam))


def yeo_johnson(x: np.ndarray, lam: float | np.ndarray) -> np.ndarray:
    """The Yeo–Johnson transform of ``x`` for one exponent or a column of them."""
    lam = np.asarray(lam, dtype=float)[..., None]
    pos = x >= 0.0
    log_pos, log_neg = np.log1p(np.where(pos, x, 0.0)), np.log1p(np.where(pos, 0.0, -x))
    near0, near2 = np.abs(lam) < 1e-8, np.abs(lam - 2.0) < 1e-8
    up = np.where(near0, log_pos, np.expm1(lam * log_pos) / np.where(near0, 1.0, lam))
    mirrored = 2.0 - lam
    down = np.where(near2, -log_neg, -np.expm1(mirrored * log_neg) / np.where(near2, 1.0, mirrored))
    return np.where(pos, up, down)


def _best_lambda(
    z: np.ndarray, family: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
) -> tuple[float, float]:
    """The exponent of largest Gaussian likelihood, searched on a fine grid, and
    twice its log-likelihood gain over no transform (exponent 1).

    A grid is exact enough for a heuristic transform and costs one
    vectorised pass, where a scalar optimiser costs dozens of calls.

    Args:
        z: The values.
        family: :func:`yeo_johnson` when None, or :func:`box_cox` (positive ``z``).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if family is None:
            var = yeo_johnson(z, _LAMBDAS).var(axis=1)
            jacobian = np.sum(np.sign(z) * np.log1p(np.abs(z)))
        else:
            var = family(z, _LAMBDAS).var(axis=1)
            jacobian = np.sum(np.log(z))
        llf = -0.5 * len(z) * np.log(var) + (_LAMBDAS - 1.0) * jacobian
    llf[~np.isfinite(llf)] = -np.inf
    best = int(np.argmax(llf))
    if not np.isfinite(llf[best]):
        return 1.0, 0.0  # constant values: every exponent is as (un)likely as none
    return float(_LAMBDAS[best]), float(2.0 * (llf[best] - llf[-1]))


def _clip_infinite(values: np.ndarray) -> np.ndarray:
    """Infinite results (valid, as in Optuna) as the worst or best finite one."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values)
    return np.clip(values, finite.min(), finite.max())


def _robust_scale(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Values centred on their median and scaled by their interquartile range,
    and the log Jacobian of that map."""
    q1, median, q3 = np.percentile(values, [25.0, 50.0, 75.0])
    spread = q3 - q1
    if spread <= 0.0:
        spread = float(np.std(values))
    if spread > 0.0:
        return (values - median) / spread, -len(values) * math.log(spread)
    return values - median, 0.0


def _standardize_with_jacobian(values: np.ndarray, log_jacobian: float) -> tuple[np.ndarray, float]:
    """Values standardised, and ``log_jacobian`` plus that of the standardisation."""
    std = float(np.std(values))
    centred = values - np.mean(values)
    if std > 0.0:
        return centred / std, log_jacobian - len(values) * math.log(std)
    return centred, log_jacobian
