"""Quasi-random search: scrambled Sobol points cover the space more evenly than random ones."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.logging import get_logger
from tunelab.samplers._base import BaseSampler
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space
from tunelab.space import BaseDistribution, SearchSpaceTransform
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from scipy.stats import qmc

    from tunelab.study import StudyView

_logger = get_logger(__name__)


_QMC_TYPES = ("sobol", "halton")


class QMCSampler(BaseSampler):
    """Sample the joint space at the points of a Sobol (or Halton) sequence.

    Trial ``n`` takes point ``n`` of the sequence with a declared
    ``search_space`` and point ``n - 1`` without one, so parallel workers
    never share a point and a seeded study is reproducible. Without a declared
    ``search_space`` the sampler learns the space from the first completed
    (or pruned) trial, or, before any, from the parameters running trials
    have suggested; parameters outside it come from ``independent_sampler``.

    Args:
        qmc_type: ``"sobol"`` or ``"halton"``.
        scramble: Scramble the sequence with ``seed`` (Optuna's default is
            False; tunelab's is True, which covers the space as evenly and
            does not start every study at the space's lowest corner).
        seed: Seed of the scrambling and of the default independent sampler.
            With scrambling, give every worker of a study the same seed.
        independent_sampler: Draws parameters outside the joint space
            (a seeded :class:`RandomSampler` by default).
        warn_asynchronous_seeding: Log a warning when scrambling without a seed
            a study on a shared storage (a database, a journal file).
        warn_independent_sampling: Log a warning when a parameter outside the
            joint space is drawn by ``independent_sampler``.
        search_space: The parameters to sample jointly; inferred when None.

    Raises:
        ValueError: ``qmc_type`` is neither ``"sobol"`` nor ``"halton"``.
    """

    def __init__(
        self,
        *,
        qmc_type: str = "sobol",
        scramble: bool = True,
        seed: int | None = None,
        independent_sampler: BaseSampler | None = None,
        warn_asynchronous_seeding: bool = True,
        warn_independent_sampling: bool = True,
        search_space: Mapping[str, BaseDistribution] | None = None,
    ) -> None:
        if qmc_type not in _QMC_TYPES:
            raise ValueError(f"qmc_type must be one of {list(_QMC_TYPES)}, got {qmc_type!r}")
        self.qmc_type = qmc_type
        self.scramble = bool(scramble)
        self.search_space = None if search_space is None else dict(search_space)
        self.seed = seed
        self._scramble_seed = int(np.random.default_rng(seed).integers(2**31))
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._warn_independent_sampling = warn_independent_sampling
        self._engine: tuple[int, qmc.QMCEngine] | None = None
        # Said once, when a study that other processes may share is first sampled: an
        # in-memory study's workers share this object, hence its scrambling.
        self._warn_seeding = seed is None and self.scramble and warn_asynchronous_seeding

    def reseed_rng(self, seed: int | None = None) -> None:
        # The scrambling seed stays: workers must keep drawing from the same sequence.
        self._independent_sampler.reseed_rng(seed)

    def _space(self, study: StudyView, *, warn: bool = False) -> dict[str, BaseDistribution]:
        """The joint space: declared, or learned from the whole study's first trials."""
        if self.search_space is not None:
            return {k: v for k, v in self.search_space.items() if not v.single()}
        # A Hyperband bracket's view would relearn the space in every bracket, sampling
        # each bracket's first trial at random.
        study = getattr(study, "whole_study", study)
        # A failed first trial must not fix the space: it may have stopped half-way.
        usable = (TrialState.COMPLETE, TrialState.PRUNED)
        for first in study.get_trials(states=usable):
            if first.distributions:
                return intersection_search_space([first], include_pruned=True)
        # Before any: what running trials have suggested, so that concurrent first
        # trials already share the sequence.
        union: dict[str, BaseDistribution] = {}
        shared: set[str] | None = None
        for running in study.get_trials(states=(TrialState.RUNNING,)):
            if running.distributions:
                union.update(running.distributions)
                names = set(running.distributions)
                shared = names if shared is None else shared & names
        if warn and shared is not None and shared != set(union):
            _logger.warning(
                "running trials suggested different parameters (%s): QMCSampler samples one "
                "fixed space, so a conditional space is sampled partly at random",
                sorted(set(union) - shared),
            )
        return {name: d for name, d in union.items() if not d.single()}

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._space(study, warn=True)

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if self._warn_seeding and study.shared_storage:
            self._warn_seeding = False
            _logger.warning(
                "QMCSampler scrambles with a random seed: give every worker of study %r the "
                "same seed=..., or their points will not come from one sequence",
                study.study_name,
            )
        # The point follows from the trial's number alone: an offset read from the study
        # (say, its first finished trial) moves as trials finish out of order and differs
        # between Hyperband brackets, handing one point to two trials. Without a declared
        # space trial 0 is the one the space is learned from, so trial 1, the first to
        # sample it, takes point 0 (as in Optuna, and the first 2**k such trials keep
        # Sobol's balance); a trial 0 that meets a space a later trial gave draws at random.
        index = trial.number - (0 if self.search_space is not None else 1)
        if index < 0:
            return {}
        transform = SearchSpaceTransform(search_space, categorical="index")
        point = self._point(index, transform.n_columns)
        return transform.decode(point)

    def _point(self, index: int, dims: int) -> np.ndarray:
        """Point ``index`` of the sequence in ``dims`` dimensions."""
        if self._engine is None or self._engine[0] != dims:
            # scipy.stats takes a second to import: pay it only when sampling.
            from scipy.stats import qmc

            kind = qmc.Sobol if self.qmc_type == "sobol" else qmc.Halton
            self._engine = (dims, kind(dims, scramble=self.scramble, seed=self._scramble_seed))
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
        if self._warn_independent_sampling and study.get_trials(
            states=(TrialState.COMPLETE, TrialState.PRUNED)
        ):
            _logger.warning(
                "trial %d: parameter %r is outside QMCSampler's joint space (which follows the "
                "first finished trial), so %s draws it",
                trial.number,
                name,
                type(self._independent_sampler).__name__,
            )
        return self._independent_sampler.sample_independent(study, trial, name, distribution)

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._independent_sampler.after_trial(study, trial, state, values)
