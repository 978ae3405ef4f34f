"""A pruner that never prunes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


class NopPruner(BasePruner):
    """Never stop a trial early (studies default to :class:`MedianPruner`, as in Optuna)."""

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        return False
