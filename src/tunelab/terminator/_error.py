"""Error evaluators: how noisy the objective is, so that smaller improvements are ignored."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np

from tunelab._validation import check_int, is_real
from tunelab.terminator._base import BaseErrorEvaluator, BaseImprovementEvaluator
from tunelab.trial import BaseTrial, FrozenTrial, StudyDirection, Trial, TrialState

# The trial system attribute that holds the scores (Optuna's key, so stored studies agree).
CV_SCORES_KEY = "terminator:cv_scores"


def report_cross_validation_scores(trial: BaseTrial, scores: Sequence[float]) -> None:
    """Store the per-fold scores of ``trial`` for :class:`CrossValidationErrorEvaluator`.

    Call it inside the objective with the scores whose mean the objective returns.
    The scores go to the trial's system attributes under Optuna's key; an
    objective running in a worker process (``optimize(n_jobs=...)``) can
    only set user attributes, so there they go to a user attribute of the
    same name, which the evaluator reads too.

    Args:
        trial: The running trial.
        scores: One score per fold (at least two, all finite).

    Raises:
        TypeError: ``trial`` is not a trial of a study.
        ValueError: Fewer than two scores, or a score is not a finite number.
    """
    if not isinstance(trial, BaseTrial):
        raise TypeError(f"trial must be a study's trial, got {type(trial).__name__}")
    values = []
    for score in scores:
        if not is_real(score):
            raise ValueError(f"scores must be finite numbers, got {score!r}")
        if not math.isfinite(float(score)):
            raise ValueError(f"scores must be finite numbers, got {score!r}")
        values.append(float(score))
    if len(values) < 2:
        raise ValueError(f"scores needs at least two folds' scores, got {len(values)}")
    if isinstance(trial, Trial):
        # Trial offers no public system-attribute setter: the storage is written
        # directly, as the trial itself does for user attributes.
        trial._study._storage.set_trial_attr(trial.trial_id, CV_SCORES_KEY, values, system=True)
    else:
        trial.set_user_attr(CV_SCORES_KEY, values)


class CrossValidationErrorEvaluator(BaseErrorEvaluator):
    """The standard error of the best trial's cross-validation score.

    Reads the fold scores stored by :func:`report_cross_validation_scores` for
    the best completed trial and returns ``sqrt((1/k + 1/(k-1)) * var)``, the
    corrected standard deviation of a k-fold mean (Nadeau and Bengio, 2003).

    Raises:
        ValueError: From :meth:`evaluate`, when nothing has completed or the best
            trial reported no scores.
    """

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        completed = [t for t in trials if t.state == TrialState.COMPLETE]
        if not completed:
            raise ValueError("no trial has completed yet: there is no best trial to read")
        sign = -1.0 if study_direction == StudyDirection.MAXIMIZE else 1.0
        best = min(completed, key=lambda t: (sign * t.values[0], t.number))  # type: ignore[index]
        scores = best.system_attrs.get(CV_SCORES_KEY, best.user_attrs.get(CV_SCORES_KEY))
        if scores is None:
            raise ValueError(
                f"the best trial ({best.number}) has no cross-validation scores: call "
                "report_cross_validation_scores(trial, scores) in the objective"
            )
        k = len(scores)
        return float(math.sqrt((1.0 / k + 1.0 / (k - 1)) * float(np.var(scores))))


class StaticErrorEvaluator(BaseErrorEvaluator):
    """A fixed error.

    Args:
        constant: The error returned for every study.
    """

    def __init__(self, constant: float) -> None:
        if not is_real(constant):
            raise TypeError(f"constant must be a number, got {constant!r}")
        self.constant = float(constant)

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        return self.constant


class MedianErrorEvaluator(BaseErrorEvaluator):
    """A threshold set once from the improvement evaluator's own early values.

    After ``warm_up_trials`` completed trials, the paired improvement
    evaluator is run on the first 1, 2, ..., ``n_initial_trials`` trials
    after the warm-up; the threshold is ``threshold_ratio`` times the median
    of those values, fixed from then on. Before enough trials have
    completed it returns a tiny negative number, so that no (non-negative)
    improvement is below it.

    Args:
        paired_improvement_evaluator: The improvement evaluator the terminator uses.
        warm_up_trials: Completed trials skipped before the initial window.
        n_initial_trials: Size of the initial window (``>= 1``).
        threshold_ratio: Fraction of the median improvement that counts as none.

    Raises:
        ValueError: An argument is out of its range.
    """

    def __init__(
        self,
        paired_improvement_evaluator: BaseImprovementEvaluator,
        warm_up_trials: int = 10,
        n_initial_trials: int = 20,
        threshold_ratio: float = 0.01,
    ) -> None:
        check_int("warm_up_trials", warm_up_trials, 0)
        check_int("n_initial_trials", n_initial_trials, 1)
        if (
            isinstance(threshold_ratio, bool)
            or not isinstance(threshold_ratio, int | float)
            or not 0.0 < threshold_ratio < math.inf
        ):
            raise ValueError(
                f"threshold_ratio must be a finite number > 0, got {threshold_ratio!r}"
            )
        self.paired_improvement_evaluator = paired_improvement_evaluator
        self.warm_up_trials = warm_up_trials
        self.n_initial_trials = n_initial_trials
        self.threshold_ratio = float(threshold_ratio)
        self._threshold: float | None = None

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        if self._threshold is not None:
            return self._threshold
        completed = sorted(
            (t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number
        )
        if len(completed) < self.warm_up_trials + self.n_initial_trials:
            return -sys.float_info.min
        start = self.warm_up_trials
        criteria = sorted(
            self.paired_improvement_evaluator.evaluate(
                completed[start : start + n], study_direction
            )
            for n in range(1, self.n_initial_trials + 1)
        )
        median = criteria[len(criteria) // 2]
        self._threshold = min(sys.float_info.max, median * self.threshold_ratio)
        return self._threshold
