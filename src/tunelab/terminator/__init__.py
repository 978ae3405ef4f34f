"""Terminator: stop a study automatically once further trials are unlikely to pay off.

A study stops when an improvement evaluator's estimate of what is left to
gain falls below an error evaluator's estimate of the objective's noise,
as in Optuna's ``optuna.terminator``.
"""

from tunelab.terminator._base import BaseErrorEvaluator, BaseImprovementEvaluator, BaseTerminator
from tunelab.terminator._emmr import EMMREvaluator
from tunelab.terminator._error import (
    CrossValidationErrorEvaluator,
    MedianErrorEvaluator,
    StaticErrorEvaluator,
    report_cross_validation_scores,
)
from tunelab.terminator._improvement import BestValueStagnationEvaluator, RegretBoundEvaluator
from tunelab.terminator._terminator import Terminator, TerminatorCallback

__all__ = [
    "BaseErrorEvaluator",
    "BaseImprovementEvaluator",
    "BaseTerminator",
    "BestValueStagnationEvaluator",
    "CrossValidationErrorEvaluator",
    "EMMREvaluator",
    "MedianErrorEvaluator",
    "RegretBoundEvaluator",
    "StaticErrorEvaluator",
    "Terminator",
    "TerminatorCallback",
    "report_cross_validation_scores",
]
