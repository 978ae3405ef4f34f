"""The terminator contracts: when to stop a study, from its expected improvement and its error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from tunelab.trial import FrozenTrial, StudyDirection

if TYPE_CHECKING:
    from tunelab.study import Study


class BaseTerminator(ABC):
    """Decides whether a study should stop starting new trials."""

    @abstractmethod
    def should_terminate(self, study: Study) -> bool:
        """Whether ``study`` should stop now."""


class BaseImprovementEvaluator(ABC):
    """Estimates how much better than the best so far further trials could still get."""

    @abstractmethod
    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        """The room for improvement left, in objective units (larger: keep going).

        Args:
            trials: All trials of the study (evaluators use the completed ones).
            study_direction: Whether the objective is minimised or maximised.
        """


class BaseErrorEvaluator(ABC):
    """Estimates the noise of the objective: improvements below it are not worth chasing."""

    @abstractmethod
    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        """The error of the objective value, in objective units.

        Args:
            trials: All trials of the study (evaluators use the completed ones).
            study_direction: Whether the objective is minimised or maximised.
        """
