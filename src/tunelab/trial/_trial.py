"""The trial an objective receives, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._trial``; the objects are those of
:mod:`tunelab.trial`.
"""

from __future__ import annotations

from tunelab.trial import Trial

__all__ = ["Trial"]
