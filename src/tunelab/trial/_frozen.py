"""Stored trials and building one, under Optuna's private module path.

Optuna code imports it from ``optuna.trial._frozen``; the objects are those of
:mod:`tunelab.trial`.
"""

from __future__ import annotations

from tunelab.trial import FrozenTrial, create_trial

__all__ = ["FrozenTrial", "create_trial"]
