"""The callback that stops a study when the terminator says so, under Optuna's module path.

Optuna code imports it from ``optuna.terminator.callback``; the objects are those of
:mod:`tunelab.terminator`.
"""

from __future__ import annotations

from tunelab.terminator import TerminatorCallback

__all__ = ["TerminatorCallback"]
