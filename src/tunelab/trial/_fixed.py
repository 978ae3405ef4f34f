"""A trial with given parameter values, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._fixed``; the objects are those of
:mod:`tunelab.trial`.
"""

from __future__ import annotations

from tunelab.trial import FixedTrial

__all__ = ["FixedTrial"]
