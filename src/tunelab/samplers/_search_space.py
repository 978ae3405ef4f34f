"""Inferring the joint search space of a define-by-run study from its history."""

from __future__ import annotations

from collections.abc import Iterable

from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, TrialState


def intersection_search_space(
    trials: Iterable[FrozenTrial], include_pruned: bool = False
) -> dict[str, BaseDistribution]:
    """Parameters that every finished trial has, with the same distribution.

    Single-valued distributions are left out: there is nothing to choose.
    Names come back sorted, so the column order is stable across calls.
    """
    states = (TrialState.COMPLETE, TrialState.PRUNED) if include_pruned else (TrialState.COMPLETE,)
    space: dict[str, BaseDistribution] | None = None
    for trial in trials:
        if trial.state not in states:
            continue
        if space is None:
            space = dict(trial.distributions)
            continue
        space = {
            name: dist for name, dist in space.items() if trial.distributions.get(name) == dist
        }
    return {name: dist for name, dist in sorted((space or {}).items()) if not dist.single()}
