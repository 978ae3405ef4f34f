"""Parameter importance for the study report: fANOVA from :mod:`tunelab.importance`.

The report asks for more than the library function: at least three complete trials and
an objective that varies, with a reason when either is missing, so that the page can
say why the plot is absent. Parameters missing from some complete trials (conditional
spaces) are left out, as fANOVA does; the report says which.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import Any

from tunelab.importance import FanovaImportanceEvaluator, get_param_importances
from tunelab.importance._params import ParamSpec, param_specs
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

MIN_TRIALS = 3


def param_importances(
    study: Any, *, objective: int = 0, seed: int = 0, n_trees: int = 64
) -> dict[str, float]:
    """Importance of each parameter for one objective, highest first, summing to 1.

    The fANOVA of :class:`~tunelab.importance.FanovaImportanceEvaluator`: the share of a
    seeded random forest's variance that each parameter explains on its own.

    Args:
        study: A :class:`~tunelab.Study`, or a sequence of :class:`~tunelab.FrozenTrial`.
        objective: Index of the objective to explain.
        seed: Seed of the random forest (same seed, same importances).
        n_trees: Trees in the forest.

    Returns:
        Parameter name to importance, sorted from most to least important.

    Raises:
        ValueError: Fewer than 3 complete trials with a finite value, no parameter
            shared by all of them, or all values equal (nothing to explain).
    """
    if n_trees < 1:
        raise ValueError(f"n_trees must be >= 1, got {n_trees!r}")
    trials = _complete(study, objective)
    if len(trials) < MIN_TRIALS:
        raise ValueError(
            f"importance needs at least {MIN_TRIALS} complete trials with a finite "
            f"objective {objective}, got {len(trials)}"
        )
    if not shared_params(trials):
        raise ValueError("no parameter appears in every complete trial")
    if len({(t.values or [])[objective] for t in trials}) == 1:
        raise ValueError("the objective values are all equal; there is nothing to explain")
    return get_param_importances(
        _Trials(trials),
        evaluator=FanovaImportanceEvaluator(n_trees=n_trees, seed=seed),
        target=lambda t: (t.values or [])[objective],
    )


class _Trials:
    """Complete trials in the shape the evaluators read; with a target, no direction is used."""

    def __init__(self, trials: Sequence[FrozenTrial]) -> None:
        self._trials = list(trials)
        self.directions = [StudyDirection.MINIMIZE]

    def get_trials(self, *, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


def _complete(study: Any, objective: int) -> list[FrozenTrial]:
    trials = study.get_trials() if hasattr(study, "get_trials") else list(study)
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values is not None
        and len(t.values) > objective
        and math.isfinite(t.values[objective])
    ]


def shared_params(trials: Sequence[FrozenTrial]) -> list[ParamSpec]:
    """Specs of the parameters present in every one of ``trials``."""
    return [s for s in param_specs(trials) if all(s.name in t.params for t in trials)]
