"""Stop a trial whose best intermediate value is worse than the median of earlier trials."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class MedianPruner(BasePruner):
    """Prune when the trial's best value so far is worse than the median at the same step.

    The median is taken over completed trials that reported that step.

    Args:
        n_startup_trials: Never prune until this many trials have completed.
        n_warmup_steps: Never prune a trial before it reaches this step.
        interval_steps: Only judge every this many steps after the warm-up.
        n_min_trials: Only judge a step that at least this many completed
            trials reported.

    Raises:
        ValueError: An argument is not an integer in its range.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        check_int("n_startup_trials", n_startup_trials, 0)
        check_int("n_warmup_steps", n_warmup_steps, 0)
        check_int("interval_steps", interval_steps, 1)
        check_int("n_min_trials", n_min_trials, 1)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        if (step - self.n_warmup_steps) % self.interval_steps:
            return False
        completed = study.get_trials(states=(TrialState.COMPLETE,))
        if len(completed) < self.n_startup_trials:
            return False
        others = [
            t.intermediate_values[step]
            for t in completed
            if step in t.intermediate_values and not math.isnan(t.intermediate_values[step])
        ]
        if len(others) < max(self.n_min_trials, 1):
            return False
        own = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
        if not own:
            return True
        maximize = study.direction == StudyDirection.MAXIMIZE
        best = max(own) if maximize else min(own)
        median = float(np.median(others))
        return best < median if maximize else best > median
