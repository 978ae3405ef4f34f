"""The interface every trial offers, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._base``; the objects are those of
:mod:`tunelab.trial`.
"""

from __future__ import annotations

from tunelab.trial import BaseTrial

__all__ = ["BaseTrial"]
