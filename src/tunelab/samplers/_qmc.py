"""Quasi-random search: scrambled Sobol points cover the space more evenly than random ones."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import BaseSampler
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.space import BaseDistribution, SearchSpaceTransform
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from scipy.stats import qmc

    from tunelab.study import StudyView


class QMCSampler(BaseSampler):
    """Sample the joint space at the points of a scrambled Sobol sequence.

    Trial ``n`` takes point ``n`` of the sequence, so parallel workers never
    share a point and a seeded study is reproducible. Without a declared
    ``search_space`` the sampler learns the space from the first completed
    (or pruned) trial; parameters outside it are drawn at random.

    Args:
        search_space: The parameters to sample jointly; inferred when None.
        seed: Seed of the scrambling and of the random fallback.
    """

    def __init__(
        self,
        *,
        search_space: Mapping[str, BaseDistribution] | None = None,
        seed: int | None = None,
    ) -> None:
        self.search_space = None if search_space is None else dict(search_space)
        self.seed = seed
        self._scramble_seed = int(np.random.default_rng(seed).integers(2**31))
        self._fallback = RandomSampler(seed=seed)
        self._engine: tuple[int, qmc.Sobol] | None = None

    def reseed_rng(self, seed: int | None = None) -> None:
        self._fallback.reseed_rng(seed)

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self.search_space is not None:
            return {k: v for k, v in self.search_space.items() if not v.single()}
        # A failed first trial must not fix the space: it may have stopped half-way.
        usable = (TrialState.COMPLETE, TrialState.PRUNED)
        for first in study.get_trials(states=usable):
            if first.distributions:
                return intersection_search_space([first], include_pruned=True)
        return {}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        transform = SearchSpaceTransform(search_space, categorical="index")
        point = self._point(trial.number, transform.n_columns)
        return transform.decode(point)

    def _point(self, index: int, dims: int) -> np.ndarray:
        """Point ``index`` of the scrambled Sobol sequence in ``dims`` dimensions."""
        if self._engine is None or self._engine[0] != dims:
            # scipy.stats takes a second to import: pay it only when sampling.
            from scipy.stats import qmc

            self._engine = (dims, qmc.Sobol(dims, scramble=True, seed=self._scramble_seed))
        engine = self._engine[1]
        engine.reset()
        with warnings.catch_warnings():
            # Sobol's balance only holds for powers of two; trials come one at a time.
            warnings.simplefilter("ignore", UserWarning)
            if index:
                engine.fast_forward(index)
            return engine.random(1)[0]

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return self._fallback.sample_independent(study, trial, name, distribution)
