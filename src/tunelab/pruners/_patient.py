"""Give a trial a few steps of grace without improvement before another pruner may stop it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial, StudyDirection

if TYPE_CHECKING:
    from tunelab.study import StudyView


def _nanbest(values: list[float], maximize: bool) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    return max(finite) if maximize else min(finite)


class PatientPruner(BasePruner):
    """Only prune a trial that has not improved for ``patience`` steps.

    The trial has stagnated when its best value over its last ``patience +
    1`` reports is worse than its best value before them by more than
    ``min_delta``. Only then is ``wrapped_pruner`` asked (or, when None, the
    trial is pruned); a trial still improving always goes on.

    Args:
        wrapped_pruner: The pruner consulted once the trial has stagnated,
            or None to prune then.
        patience: Reports without improvement tolerated (``>= 0``).
        min_delta: How much worse than the earlier best counts as no
            improvement (``>= 0``).

    Raises:
        ValueError: ``patience`` or ``min_delta`` is negative.
    """

    def __init__(
        self, wrapped_pruner: BasePruner | None, patience: int, min_delta: float = 0.0
    ) -> None:
        if wrapped_pruner is not None and not isinstance(wrapped_pruner, BasePruner):
            raise TypeError(
                f"wrapped_pruner must be a pruner or None, got {type(wrapped_pruner).__name__}"
            )
        check_int("patience", patience, 0)
        if (
            isinstance(min_delta, bool)
            or not isinstance(min_delta, int | float)
            or not min_delta >= 0.0
        ):
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        self.wrapped_pruner = wrapped_pruner
        self.patience = patience
        self.min_delta = float(min_delta)

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        steps = sorted(trial.intermediate_values)
        if len(steps) <= self.patience + 1:
            return False
        values = [trial.intermediate_values[s] for s in steps]
        split = len(values) - self.patience - 1
        maximize = study.direction == StudyDirection.MAXIMIZE
        before = _nanbest(values[:split], maximize)
        recent = _nanbest(values[split:], maximize)
        stagnated = (
            before - self.min_delta > recent if maximize else before + self.min_delta < recent
        )
        if not stagnated:
            return False
        return self.wrapped_pruner is None or self.wrapped_pruner.prune(study, trial)
