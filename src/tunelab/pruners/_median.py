"""Stop a trial whose best value so far is worse than the median of earlier trials."""

from __future__ import annotations

from tunelab.pruners._percentile import PercentilePruner


class MedianPruner(PercentilePruner):
    """Prune when the trial's best value so far is worse than the median at the same step.

    The same as ``PercentilePruner(50.0, ...)``: the median is taken over
    completed trials that reported that step.

    Args:
        n_startup_trials: Never prune until this many trials have completed.
        n_warmup_steps: Never prune a trial before it reaches this step.
        interval_steps: Judge once per this many steps after the warm-up.
        n_min_trials: Only judge a step that at least this many completed
            trials reported.

    Raises:
        ValueError: An argument is not an integer in its range.
    """

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials
        )
