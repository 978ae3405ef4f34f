"""Error evaluators, under Optuna's module path ``optuna.terminator.erroreval``.

The objects are those of :mod:`tunelab.terminator`; cross-validation scores are
stored under the same trial attribute as in Optuna.
"""

from __future__ import annotations

from tunelab.terminator import (
    BaseErrorEvaluator,
    CrossValidationErrorEvaluator,
    StaticErrorEvaluator,
    report_cross_validation_scores,
)
from tunelab.terminator._error import CV_SCORES_KEY

# Optuna's private name for the trial attribute holding the scores.
_CROSS_VALIDATION_SCORES_KEY = CV_SCORES_KEY

__all__ = [
    "BaseErrorEvaluator",
    "CrossValidationErrorEvaluator",
    "StaticErrorEvaluator",
    "report_cross_validation_scores",
]
