"""The terminator contract and the default terminator, under Optuna's module path.

Optuna code imports it from ``optuna.terminator.terminator``; the objects are those of
:mod:`tunelab.terminator`.
"""

from __future__ import annotations

from tunelab.terminator import BaseTerminator, Terminator

__all__ = ["BaseTerminator", "Terminator"]
