"""The pruner contract: deciding to stop a trial early from its intermediate values."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class BasePruner(ABC):
    """Judges from reported intermediate values whether a running trial is hopeless."""

    @abstractmethod
    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        """Whether ``trial`` should stop now."""

    def _sampler_view(self, study: StudyView, trial: FrozenTrial) -> StudyView:
        """The part of the study the sampler learns from when it samples ``trial``.

        The whole study, unless the pruner runs separate sub-studies
        (Hyperband's brackets) that each need a sampler of their own.
        """
        return study
