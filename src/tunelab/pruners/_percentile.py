"""Stop a trial whose best value so far lies in the worst part of its rivals' values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


def best_so_far(trial: FrozenTrial, direction: StudyDirection) -> float:
    """The best finite-or-infinite intermediate value of ``trial``; NaN if all are NaN."""
    values = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
    if not values:
        return math.nan
    return max(values) if direction == StudyDirection.MAXIMIZE else min(values)


def is_judged_step(step: int, steps: Iterable[int], n_warmup_steps: int, interval: int) -> bool:
    """Whether ``step`` is the first report in its pruning interval.

    Checks fall on ``n_warmup_steps + k * interval``; a trial that skipped the
    check step itself is judged at its first report after it, and only then.
    """
    if step < n_warmup_steps:
        return False
    check_step = n_warmup_steps + (step - n_warmup_steps) // interval * interval
    previous = max((s for s in steps if s != step), default=-1)
    return previous < check_step


class PercentilePruner(BasePruner):
    """Prune when the trial's best value so far is outside the top ``percentile``.

    The threshold is the ``percentile``-th percentile of the values that
    completed trials reported at the trial's latest step (the ``100 -
    percentile``-th when maximising), so ``PercentilePruner(25.0)`` keeps
    trials whose best value is within the best quarter. NaN reports of other
    trials are ignored in the percentile; a trial that reported only NaN is
    pruned.

    Args:
        percentile: In ``[0, 100]``: the share of trials kept, in percent.
        n_startup_trials: Never prune until this many trials have completed.
        n_warmup_steps: Never prune a trial before it reaches this step.
        interval_steps: Judge once per this many steps after the warm-up
            (at the first report in each interval).
        n_min_trials: Only judge a step that at least this many completed
            trials reported.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        percentile: float,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        if (
            isinstance(percentile, bool)
            or not isinstance(percentile, int | float)
            or not 0.0 <= percentile <= 100.0
        ):
            raise ValueError(f"percentile must be a number in [0, 100], got {percentile!r}")
        check_int("n_startup_trials", n_startup_trials, 0)
        check_int("n_warmup_steps", n_warmup_steps, 0)
        check_int("interval_steps", interval_steps, 1)
        check_int("n_min_trials", n_min_trials, 1)
        self.percentile = float(percentile)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not is_judged_step(
            step, trial.intermediate_values, self.n_warmup_steps, self.interval_steps
        ):
            return False
        completed = study.get_trials(states=(TrialState.COMPLETE,))
        if not completed or len(completed) < self.n_startup_trials:
            return False
        direction = study.direction
        best = best_so_far(trial, direction)
        if math.isnan(best):
            return True
        threshold = self._threshold(completed, step, direction)
        if math.isnan(threshold):
            return False
        return best < threshold if direction == StudyDirection.MAXIMIZE else best > threshold

    def _threshold(
        self, completed: list[FrozenTrial], step: int, direction: StudyDirection
    ) -> float:
        """The percentile of completed trials' values at ``step``; NaN when too few.

        A NaN report counts as a report towards ``n_min_trials`` (as in Optuna)
        but not in the percentile itself.
        """
        reported = [t.intermediate_values[step] for t in completed if step in t.intermediate_values]
        finite = [v for v in reported if not math.isnan(v)]
        if len(reported) < self.n_min_trials or not finite:
            return math.nan
        q = 100.0 - self.percentile if direction == StudyDirection.MAXIMIZE else self.percentile
        return float(np.percentile(finite, q))
