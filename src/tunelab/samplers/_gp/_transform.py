"""Encodings for the GP: parameters to the unit cube, objective values to a normal scale."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import qmc

from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceTransform,
)

# Yeo–Johnson exponents beyond this only chase a few extreme points.
_MAX_LAMBDA = 3.0


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
            elif isinstance(dist, IntDistribution) or dist.step is not None:
                self.grids.append(self._numeric_grid(column, name, dist))
        on_grid = [g.column for g in self.grids]
        self.continuous = np.setdiff1d(np.arange(self.dim), on_grid)

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


def normalize_objective(values: np.ndarray) -> np.ndarray:
    """Standardise, Yeo–Johnson transform and standardise again.

    The power transform pulls in heavy tails and outliers (a diverged run
    scoring 1e6 next to scores near 1) that would otherwise dominate the
    GP's fit. It is monotone, so the order of the values is kept.
    """
    z = _standardize(values)
    if np.ptp(z) == 0.0:
        return z
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lam = float(np.clip(stats.yeojohnson_normmax(z), -_MAX_LAMBDA, _MAX_LAMBDA))
            transformed = np.asarray(stats.yeojohnson(z, lmbda=lam), dtype=float)
    except (ValueError, FloatingPointError):
        return z
    if not np.all(np.isfinite(transformed)):
        return z
    return _standardize(transformed)


def _standardize(values: np.ndarray) -> np.ndarray:
    std = float(np.std(values))
    centred = values - np.mean(values)
    return centred / std if std > 0.0 else centred
