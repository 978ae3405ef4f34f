"""Stop a trial whose latest value leaves a fixed band."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.pruners._percentile import is_judged_step
from tunelab.trial import FrozenTrial

if TYPE_CHECKING:
    from tunelab.study import StudyView


def _bound(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or None, got {value!r}")
    try:
        bound = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or None, got {value!r}") from None
    if math.isnan(bound):
        raise ValueError(f"{name} must not be NaN")
    return bound


class ThresholdPruner(BasePruner):
    """Prune when the latest value is below ``lower``, above ``upper`` or NaN.

    Useful to stop diverging runs (a loss above a sane level, or NaN) and
    runs stuck at chance level, whatever the other trials did.

    Args:
        lower: Prune below this value (no lower bound when None).
        upper: Prune above this value (no upper bound when None).
        n_warmup_steps: Never prune a trial before it reaches this step.
        interval_steps: Judge once per this many steps after the warm-up.

    Raises:
        TypeError: Neither bound is given, or a bound is not a number.
        ValueError: ``lower > upper``, or a step count is out of its range.
    """

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
    ) -> None:
        if lower is None and upper is None:
            raise TypeError("ThresholdPruner needs lower or upper (or both)")
        self.lower = _bound("lower", lower, -math.inf)
        self.upper = _bound("upper", upper, math.inf)
        if self.lower > self.upper:
            raise ValueError(f"lower must not exceed upper, got lower={lower!r} > upper={upper!r}")
        check_int("n_warmup_steps", n_warmup_steps, 0)
        check_int("interval_steps", interval_steps, 1)
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not is_judged_step(
            step, trial.intermediate_values, self.n_warmup_steps, self.interval_steps
        ):
            return False
        latest = trial.intermediate_values[step]
        return math.isnan(latest) or not self.lower <= latest <= self.upper
