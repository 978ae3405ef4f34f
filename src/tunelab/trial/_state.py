"""The lifecycle states of a trial, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._state``; the objects are those of
:mod:`tunelab.trial`.
"""

from __future__ import annotations

from tunelab.trial import TrialState

__all__ = ["TrialState"]
