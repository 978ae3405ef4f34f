"""Uniform random search (log-uniform on log scales)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import BaseSampler
from tunelab.space import BaseDistribution, from_unit
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class RandomSampler(BaseSampler):
    """Draw every parameter independently and uniformly from its domain.

    Args:
        seed: Seed of the random stream; the same seed gives the same sequence.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return from_unit(distribution, float(self._rng.random()))
