"""Stop a trial that a paired Wilcoxon test finds worse than the best trial on the same steps."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from tunelab._validation import check_int
from tunelab.pruners._base import BasePruner
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


class WilcoxonPruner(BasePruner):
    """Prune when the trial is significantly worse than the best trial, instance by instance.

    Meant for objectives that average a score over instances (folds, data
    sets, problem instances): report the score of instance ``i`` as step
    ``i``, in any order. The trial's scores are paired with the best
    completed trial's scores on the same steps, and a one-sided Wilcoxon
    signed-rank test (``scipy.stats.wilcoxon``, ties split) asks whether
    the trial is worse. It is pruned when the p-value is below
    ``p_threshold``, unless its mean so far is no worse than the best
    trial's mean (a safety net against pruning the next best trial).

    Trials whose values, or whose best trial's values, contain NaN or
    infinity are never pruned (with a warning).

    Args:
        p_threshold: Significance level in ``[0, 1]``; smaller prunes less.
        n_startup_steps: Never prune before this many steps are paired
            (and never before two).

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(self, *, p_threshold: float = 0.1, n_startup_steps: int = 2) -> None:
        if (
            isinstance(p_threshold, bool)
            or not isinstance(p_threshold, int | float)
            or not 0.0 <= p_threshold <= 1.0
        ):
            raise ValueError(f"p_threshold must be a number in [0, 1], got {p_threshold!r}")
        check_int("n_startup_steps", n_startup_steps, 0)
        self.p_threshold = float(p_threshold)
        self.n_startup_steps = n_startup_steps

    def prune(self, study: StudyView, trial: FrozenTrial) -> bool:
        own = trial.intermediate_values
        if not own:
            return False
        if not all(math.isfinite(v) for v in own.values()):
            warnings.warn(
                f"trial {trial.number} reported NaN or infinity; WilcoxonPruner keeps it",
                stacklevel=2,
            )
            return False
        best = _best_trial(study)
        if best is None:
            return False
        theirs = best.intermediate_values
        if not theirs:
            warnings.warn(
                f"the best trial ({best.number}) reported no values; WilcoxonPruner cannot judge",
                stacklevel=2,
            )
            return False
        if not all(math.isfinite(v) for v in theirs.values()):
            warnings.warn(
                f"the best trial ({best.number}) reported NaN or infinity; "
                "WilcoxonPruner cannot judge",
                stacklevel=2,
            )
            return False
        shared = sorted(set(own) & set(theirs))
        if len(shared) < len(own):
            warnings.warn(
                f"trial {trial.number} reported steps the best trial ({best.number}) did not; "
                "WilcoxonPruner ignores them",
                stacklevel=2,
            )
        if len(shared) < max(2, self.n_startup_steps):
            return False
        differences = [own[s] - theirs[s] for s in shared]
        maximize = study.direction == StudyDirection.MAXIMIZE
        own_mean = sum(own.values()) / len(own)
        best_mean = sum(theirs.values()) / len(theirs)
        # Significantly worse is the hypothesis: lower when maximising, higher when minimising.
        p_value = _signed_rank_p_value(differences, "less" if maximize else "greater")
        if p_value >= self.p_threshold:
            return False
        # The test judged the paired steps, but if the trial's mean over all its
        # steps already matches the best trial's, keep it rather than risk the best.
        return own_mean < best_mean if maximize else own_mean > best_mean


def _best_trial(study: StudyView) -> FrozenTrial | None:
    """The best completed trial, the earliest among equals."""
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    if not completed:
        return None
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    return min(completed, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]


def _signed_rank_p_value(differences: list[float], alternative: str) -> float:
    import scipy.stats  # imported on use: scipy.stats costs a noticeable share of `import tunelab`

    result = scipy.stats.wilcoxon(differences, alternative=alternative, zero_method="zsplit")
    return float(result.pvalue)
