"""The median-based error evaluator, under Optuna's module path.

Optuna code imports it from ``optuna.terminator.median_erroreval``; the objects are those of
:mod:`tunelab.terminator`.
"""

from __future__ import annotations

from tunelab.terminator import MedianErrorEvaluator

__all__ = ["MedianErrorEvaluator"]
