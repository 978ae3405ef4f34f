"""Search-space inference under Optuna's module name (``optuna.search_space``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tunelab.samplers import intersection_search_space
from tunelab.space import BaseDistribution
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import Study

__all__ = ["IntersectionSearchSpace", "intersection_search_space"]


class IntersectionSearchSpace:
    """The parameters every finished trial of a study shares, kept up to date.

    Args:
        include_pruned: Count pruned trials as well as completed ones.
    """

    def __init__(self, include_pruned: bool = False) -> None:
        self._include_pruned = include_pruned
        self._study_key: tuple[str, int] | None = None

    def calculate(self, study: Study | StudyView) -> dict[str, BaseDistribution]:
        """The intersection search space of the study's trials, names sorted.

        Raises:
            ValueError: ``study`` is not the study of the first call (one
                instance follows one study, as in Optuna).
        """
        owner = study._study if isinstance(study, StudyView) else study  # a view wraps it
        key = (owner.study_name, owner._study_id)
        if self._study_key is None:
            self._study_key = key
        elif key != self._study_key:
            raise ValueError(
                f"this IntersectionSearchSpace follows study {self._study_key[0]!r}; "
                f"make another one for study {key[0]!r}"
            )
        trials: Iterable[FrozenTrial] = study.get_trials(deepcopy=False)
        return intersection_search_space(trials, include_pruned=self._include_pruned)
