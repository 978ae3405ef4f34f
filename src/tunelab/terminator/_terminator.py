"""Terminator: stop a study once the improvement still possible is below the objective's noise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab._validation import check_int
from tunelab.logging import get_logger
from tunelab.terminator._base import BaseErrorEvaluator, BaseImprovementEvaluator, BaseTerminator
from tunelab.terminator._error import CrossValidationErrorEvaluator, StaticErrorEvaluator
from tunelab.terminator._improvement import (
    DEFAULT_MIN_N_TRIALS,
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
)
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import Study

_logger = get_logger(__name__)


class Terminator(BaseTerminator):
    """Stop when the estimated room for improvement is smaller than the objective's error.

    Args:
        improvement_evaluator: Estimates the improvement left;
            :class:`RegretBoundEvaluator` by default.
        error_evaluator: Estimates the objective's error; by default
            :class:`CrossValidationErrorEvaluator` (the objective must call
            :func:`report_cross_validation_scores`), or a zero
            :class:`StaticErrorEvaluator` with :class:`BestValueStagnationEvaluator`.
        min_n_trials: Never stop before this many trials have completed.

    Raises:
        ValueError: ``min_n_trials`` is not a positive integer.
    """

    def __init__(
        self,
        improvement_evaluator: BaseImprovementEvaluator | None = None,
        error_evaluator: BaseErrorEvaluator | None = None,
        min_n_trials: int = DEFAULT_MIN_N_TRIALS,
    ) -> None:
        check_int("min_n_trials", min_n_trials, 1)
        self.improvement_evaluator = improvement_evaluator or RegretBoundEvaluator()
        if error_evaluator is None:
            error_evaluator = (
                StaticErrorEvaluator(0.0)
                if isinstance(self.improvement_evaluator, BestValueStagnationEvaluator)
                else CrossValidationErrorEvaluator()
            )
        self.error_evaluator = error_evaluator
        self.min_n_trials = min_n_trials

    def should_terminate(self, study: Study) -> bool:
        """Whether the improvement left is below the error (never before ``min_n_trials``)."""
        if len(study.get_trials(states=(TrialState.COMPLETE,))) < self.min_n_trials:
            return False
        trials = study.get_trials(deepcopy=False)
        direction = study.direction
        improvement = self.improvement_evaluator.evaluate(trials, direction)
        error = self.error_evaluator.evaluate(trials, direction)
        return improvement < error


class TerminatorCallback:
    """An ``optimize`` callback that stops the study when the terminator says so.

    Trials already running finish; no new trial starts.

    Args:
        terminator: The rule; a default :class:`Terminator` when None.
    """

    def __init__(self, terminator: BaseTerminator | None = None) -> None:
        self.terminator = terminator or Terminator()

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if self.terminator.should_terminate(study):
            _logger.info("The terminator stopped study %r.", study.study_name)
            study.stop()
