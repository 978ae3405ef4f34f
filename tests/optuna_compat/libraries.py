"""The two libraries every side-by-side test runs against: tunelab and Optuna itself."""

from __future__ import annotations

import pytest

import tunelab

optuna_ref = pytest.importorskip("optuna")

LIBRARIES = [pytest.param(tunelab, id="tunelab"), pytest.param(optuna_ref, id="optuna")]


def quiet(level_name: str = "WARNING") -> None:
    """Set both libraries' loggers to ``level_name`` (a name both modules define)."""
    optuna_ref.logging.set_verbosity(getattr(optuna_ref.logging, level_name))
    tunelab.logging.set_verbosity(getattr(tunelab.logging, level_name))
