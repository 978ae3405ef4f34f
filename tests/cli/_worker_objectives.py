"""Objectives that `tunelab worker` processes import in the tests (by file path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tunelab.trial import BaseTrial


def quick(trial: BaseTrial) -> float:
    """A parabola that takes a moment, so that workers interleave."""
    x = trial.suggest_float("x", -10.0, 10.0)
    time.sleep(0.02)
    return x * x


def hang_first(trial: BaseTrial) -> float:
    """Trial 0 announces itself in $HANG_MARKER and then runs for a minute; others are quick."""
    x = trial.suggest_float("x", -10.0, 10.0)
    if trial.number == 0:
        Path(os.environ["HANG_MARKER"]).write_text(str(x))
        time.sleep(float(os.environ.get("HANG_SECONDS", "60")))
    return x * x
