"""One axis of the space TPE models: numeric parameters on [0, 1], categorical by index.

Numeric parameters are modelled in their transformed space: log-scaled when the
distribution is, and widened by half a step on each side when the domain is a
grid (integers, stepped floats), so every grid value owns an equal cell of the
transformed axis. This matches :func:`tunelab.space.from_unit`, which decodes
the same way, so a uniform draw on the axis is exactly what RandomSampler does.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)


@dataclass(frozen=True)
class Axis:
    """Encoding of one distribution for the Parzen estimators.

    Attributes:
        dist: The distribution.
        n_choices: Number of choices of a categorical distribution, 0 otherwise.
        lo: Lower end of the transformed numeric axis (unused for categoricals).
        hi: Upper end of the transformed numeric axis.
        n_cells: Number of grid values of a discrete numeric domain, 0 when continuous.
    """

    dist: BaseDistribution
    n_choices: int
    lo: float
    hi: float
    n_cells: int

    @property
    def categorical(self) -> bool:
        """Whether the axis is categorical (modelled by index, not on [0, 1])."""
        return self.n_choices > 0

    @property
    def min_bandwidth(self) -> float:
        """Smallest kernel width on [0, 1]: half a grid cell on discrete axes.

        Narrower kernels would make the density at a grid value depend on the
        kernel's peak rather than on how much mass the value's cell holds.
        """
        return 0.5 / self.n_cells if self.n_cells else 0.0

    def encode(self, internal: float) -> float:
        """Position on [0, 1] of a numeric internal value, or a category's index."""
        if self.categorical:
            return internal
        value = math.log(internal) if self._log else internal
        return (value - self.lo) / (self.hi - self.lo)

    def snap(self, u: np.ndarray) -> np.ndarray:
        """Move points of [0, 1] to the position of the grid value they decode to."""
        if not self.n_cells:
            return np.clip(u, 0.0, 1.0)
        return self._encode_many(self.decode(u))

    def decode(self, u: np.ndarray) -> np.ndarray:
        """Internal values of points of [0, 1], clipped and rounded onto the domain."""
        dist = self.dist
        assert isinstance(dist, FloatDistribution | IntDistribution)
        value = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        if self._log:
            value = np.exp(value)
        if dist.step is not None:
            value = dist.low + np.round((value - dist.low) / dist.step) * dist.step
        return np.clip(value, dist.low, dist.high)

    def external(self, internal: float) -> Any:
        """The user-facing value of an internal one."""
        return self.dist.to_external(internal)

    @property
    def _log(self) -> bool:
        return bool(getattr(self.dist, "log", False))

    def _encode_many(self, internal: np.ndarray) -> np.ndarray:
        value = np.log(internal) if self._log else internal
        return (value - self.lo) / (self.hi - self.lo)


@functools.lru_cache(maxsize=1024)
def axis_for(dist: BaseDistribution) -> Axis:
    """The axis of a distribution (cached: distributions are immutable and hashable)."""
    if isinstance(dist, CategoricalDistribution):
        return Axis(dist, len(dist.choices), 0.0, 0.0, 0)
    assert isinstance(dist, FloatDistribution | IntDistribution)
    half, n_cells = 0.0, 0
    if dist.step is not None:  # always set for integers
        half = 0.5 * dist.step
        n_cells = round((dist.high - dist.low) / dist.step) + 1
    low, high = dist.low - half, dist.high + half
    if dist.log:
        low, high = math.log(low), math.log(high)
    return Axis(dist, 0, low, high, n_cells)
