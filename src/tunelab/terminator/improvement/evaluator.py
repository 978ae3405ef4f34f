"""Improvement evaluators, under Optuna's module path ``optuna.terminator.improvement.evaluator``.

The objects are those of :mod:`tunelab.terminator`.
"""

from __future__ import annotations

from tunelab.terminator import (
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
)

__all__ = ["BaseImprovementEvaluator", "BestValueStagnationEvaluator", "RegretBoundEvaluator"]
