"""Encoding of parameter sets to and from the unit cube, for samplers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from tunelab.space._distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


def _numeric_bounds(dist: FloatDistribution | IntDistribution) -> tuple[float, float]:
    """Bounds of the encoded axis before scaling to [0, 1].

    Stepped and integer domains are widened by half a step on each side so that
    every grid value owns an equal share of the unit interval.
    """
    half = 0.0 if dist.step is None else 0.5 * dist.step
    low, high = dist.low - half, dist.high + half
    if dist.log:
        return math.log(low), math.log(high)
    return low, high


class SearchSpaceTransform:
    """Map parameter dicts to points of ``[0, 1]^d`` and back.

    Numeric parameters take one column each (log-scaled where the distribution
    asks). Categorical parameters take one column per choice (``"onehot"``,
    decoded by argmax) or a single column split into equal bins (``"index"``).

    Args:
        space: Parameter name to distribution, in a fixed order.
        categorical: How categorical parameters are encoded.
    """

    def __init__(
        self,
        space: Mapping[str, BaseDistribution],
        *,
        categorical: Literal["onehot", "index"] = "onehot",
    ) -> None:
        self.space = dict(space)
        self.categorical = categorical
        self._slices: dict[str, slice] = {}
        col = 0
        for name, dist in self.space.items():
            width = (
                len(dist.choices)
                if isinstance(dist, CategoricalDistribution) and categorical == "onehot"
                else 1
            )
            self._slices[name] = slice(col, col + width)
            col += width
        self.n_columns = col

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one parameter dict (external values) to a vector in ``[0, 1]^d``."""
        out = np.zeros(self.n_columns)
        for name, dist in self.space.items():
            cols = self._slices[name]
            internal = dist.to_internal(params[name])
            if isinstance(dist, CategoricalDistribution):
                if self.categorical == "onehot":
                    out[cols.start + int(internal)] = 1.0
                else:
                    out[cols.start] = (internal + 0.5) / len(dist.choices)
                continue
            assert isinstance(dist, FloatDistribution | IntDistribution)
            low, high = _numeric_bounds(dist)
            value = math.log(internal) if dist.log else internal
            out[cols.start] = 0.5 if high == low else _to_unit(value, low, high)
        return out

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """Decode a vector of the unit cube to a parameter dict of external values.

        Values are clipped into the domain and rounded onto integer or step grids.
        """
        x = np.asarray(x, dtype=float)
        params: dict[str, Any] = {}
        for name, dist in self.space.items():
            cols = self._slices[name]
            if isinstance(dist, CategoricalDistribution):
                if self.categorical == "onehot":
                    params[name] = dist.choices[int(np.argmax(x[cols]))]
                else:
                    params[name] = from_unit(dist, float(x[cols.start]))
                continue
            assert isinstance(dist, FloatDistribution | IntDistribution)
            params[name] = _decode_numeric(dist, float(x[cols.start]))
        return params


def from_unit(dist: BaseDistribution, u: float) -> Any:
    """The value of one parameter at position ``u`` of the unit interval.

    Numeric values are clipped, log-scaled and snapped to their step grid;
    categorical choices split the interval into equal bins.
    """
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[min(max(int(u * len(dist.choices)), 0), len(dist.choices) - 1)]
    assert isinstance(dist, FloatDistribution | IntDistribution)
    return _decode_numeric(dist, u)


def _to_unit(value: float, low: float, high: float) -> float:
    """Position of ``value`` in ``[low, high]``, also for ranges as wide as ±1e308."""
    if math.isinf(high - low):  # the width overflows; half of it does not
        return (0.5 * value - 0.5 * low) / (0.5 * high - 0.5 * low)
    return (value - low) / (high - low)


def _decode_numeric(dist: FloatDistribution | IntDistribution, u: float) -> float | int:
    low, high = _numeric_bounds(dist)
    u = min(max(u, 0.0), 1.0)
    # Interpolated term by term, not low + u * (high - low), whose width can overflow.
    value = (1.0 - u) * low + u * high
    if dist.log:
        value = math.exp(value)
    if dist.step is not None:
        # Halves round up, not to even: a point on a bin's edge goes to the upper bin,
        # as every other point of that edge's width does (even QMC grids stay balanced).
        value = dist.low + math.floor((value - dist.low) / dist.step + 0.5) * dist.step
    value = min(max(value, dist.low), dist.high)
    if isinstance(dist, IntDistribution):
        return round(value)
    return float(value)
