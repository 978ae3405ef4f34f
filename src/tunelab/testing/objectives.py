"""Objectives that fail or prune at once, for tests of the optimisation loop."""

from __future__ import annotations

from tunelab.exceptions import TrialPruned
from tunelab.trial import BaseTrial


def fail_objective(_: BaseTrial) -> float:
    """Raise ``ValueError``: the trial fails."""
    raise ValueError("fail_objective always fails")


def pruned_objective(_: BaseTrial) -> float:
    """Raise :class:`~tunelab.TrialPruned`: the trial is pruned."""
    raise TrialPruned()
