"""The sampler contract: how a sampler chooses parameter values."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class BaseSampler(ABC):
    """Chooses parameter values for trials from the study's history.

    A sampler may choose several parameters together (*relative* sampling,
    over a space it infers at the start of each trial) and the rest one at a
    time as the objective asks for them (*independent* sampling). It reads the
    study through a :class:`~tunelab.study.StudyView` and never writes storage.
    """

    def infer_relative_search_space(
        self, study: StudyView, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """The parameters to sample jointly for ``trial`` (none by default)."""
        return {}

    def sample_relative(
        self, study: StudyView, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Values for the parameters of ``search_space``, chosen together."""
        return {}

    @abstractmethod
    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        """A value for one parameter outside the relative space."""

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:  # noqa: B027
        """Called when a trial starts, before any sampling."""

    def after_trial(  # noqa: B027
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Called when a trial has finished and its state is stored."""

    def reseed_rng(self, seed: int | None = None) -> None:  # noqa: B027
        """Restart the random stream (e.g. in a new worker process) from ``seed``."""

    def _raise_error_if_multi_objective(self, study: StudyView) -> None:
        """Raise for a study with several objectives (a helper Optuna's samplers call)."""
        if len(study.directions) > 1:
            raise ValueError(
                f"{type(self).__name__} supports single-objective studies only; "
                f"this one has {len(study.directions)} objectives"
            )
