"""Constraint helpers under Optuna's private path ``optuna.study._constrained_optimization``.

Samplers written for Optuna read a finished trial's constraints with
``trial.system_attrs[_CONSTRAINTS_KEY]``; a study with a ``constraints_func``
stores them under the same key here (:data:`tunelab.trial.CONSTRAINTS_KEY`).
Multi-objective plugins also filter trials with :func:`_get_feasible_trials`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunelab.trial import CONSTRAINTS_KEY, FrozenTrial

_CONSTRAINTS_KEY = CONSTRAINTS_KEY


def _is_constrained_optimization(trials: Sequence[FrozenTrial]) -> bool:
    """Whether any of ``trials`` has constraint values stored."""
    return any(trial.constraints for trial in trials)


def _get_feasible_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials none of whose constraints is exceeded, in order.

    Optuna's rule, which plugins expect from this path: a trial without constraint
    values counts as feasible. (tunelab's own :func:`tunelab.trial.feasible_trials`
    is stricter once any trial has constraints.)
    """
    return [t for t in trials if all(v <= 0.0 for v in t.constraints.values())]
