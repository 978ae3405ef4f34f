"""A pruner with a fixed answer, for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab.pruners import BasePruner
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class DeterministicPruner(BasePruner):
    """Answer every ``should_prune()`` with ``is_pruning``.

    Args:
        is_pruning: Whether every trial is to be pruned.
    """

    def __init__(self, is_pruning: bool) -> None:
        self.is_pruning = is_pruning

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        return self.is_pruning
