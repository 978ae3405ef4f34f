"""Grids: every combination of a finite set of values per parameter."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunelab.space._distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def grid_values(dist: BaseDistribution, *, n_float: int | None = None) -> list[Any]:
    """All values of a finite domain, or ``n_float`` evenly spaced points of a float range.

    Raises:
        ValueError: The domain is continuous and ``n_float`` is not given.
    """
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        n = round((dist.high - dist.low) / dist.step) + 1
        # low + i * step can overshoot high by a rounding error (0.1 steps, say).
        return [min(float(dist.low + i * dist.step), dist.high) for i in range(n)]
    if dist.single():
        return [dist.low]  # n_float copies of one value would be one point listed twice
    if n_float is None:
        raise ValueError("a continuous float range needs n_float points to make a grid")
    if dist.log:
        return [float(v) for v in np.geomspace(dist.low, dist.high, n_float)]
    # Interpolated, not linspace(low, high): its step overflows on ranges as wide as ±1e308.
    return [float((1.0 - t) * dist.low + t * dist.high) for t in np.linspace(0.0, 1.0, n_float)]


def iter_grid(values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the given values, in a fixed (row-major, sorted-name) order."""
    names = sorted(values)
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(values[n] for n in names))
    ]
