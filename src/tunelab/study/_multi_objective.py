"""Pareto dominance and ranking under Optuna's private module path.

Multi-objective samplers and tools written for Optuna (OptunaHub packages among
them) import these helpers from ``optuna.study._multi_objective``; with
``import tunelab as optuna`` they find tunelab's here. Loss values are minimised:
an objective that is maximised is negated first (:func:`_normalize_value`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tunelab.importance._hypervolume import dominated
from tunelab.study._constrained_optimization import _get_feasible_trials
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import Study


def _normalize_value(value: float | None, direction: StudyDirection) -> float:
    """``value`` as a loss: negated when maximised; a missing value is the worst (inf)."""
    if value is None:
        return math.inf
    return -value if direction == StudyDirection.MAXIMIZE else value


def _losses(values: Sequence[float], directions: Sequence[StudyDirection]) -> list[float]:
    return [_normalize_value(v, d) for v, d in zip(values, directions, strict=True)]


def _dominates(
    trial0: FrozenTrial, trial1: FrozenTrial, directions: Sequence[StudyDirection]
) -> bool:
    """Whether ``trial0`` dominates ``trial1``: no worse in every objective, better in one.

    A complete trial dominates one that is not; a trial that is not complete
    dominates nothing.

    Raises:
        ValueError: The trials, or the trials and ``directions``, differ in their
            number of objectives.
    """
    if trial0.state != TrialState.COMPLETE:
        return False
    if trial1.state != TrialState.COMPLETE:
        return True
    values0, values1 = trial0.values or [], trial1.values or []
    if len(values0) != len(values1):
        raise ValueError("trials with different numbers of objectives cannot be compared")
    if len(values0) != len(directions):
        raise ValueError(
            f"the trials have {len(values0)} objectives but {len(directions)} directions"
        )
    loss0, loss1 = _losses(values0, directions), _losses(values1, directions)
    no_worse = all(a <= b for a, b in zip(loss0, loss1, strict=True))
    return no_worse and any(a < b for a, b in zip(loss0, loss1, strict=True))


def _is_pareto_front(loss_values: np.ndarray, assume_unique_lexsorted: bool) -> np.ndarray:
    """Mask of the rows of ``loss_values`` that no other row dominates.

    Rows that are equal do not dominate each other, so all copies of a Pareto
    optimal row are on the front.

    Args:
        loss_values: One row per solution, one column per (minimised) objective.
        assume_unique_lexsorted: Optuna's promise that the rows are unique and sorted,
            which lets it go faster; the mask is the same either way here.
    """
    del assume_unique_lexsorted  # only a speed hint in Optuna, and the answer does not depend on it
    loss_values = np.asarray(loss_values, dtype=float)
    if loss_values.ndim != 2 or len(loss_values) == 0:
        return np.zeros(len(loss_values), dtype=bool)
    return ~dominated(loss_values)


def _fast_non_domination_rank(
    loss_values: np.ndarray, *, penalty: np.ndarray | None = None, n_below: int | None = None
) -> np.ndarray:
    """Non-domination rank of each row (0 for the Pareto front), as NSGA-II sorts.

    With ``penalty`` (constraint violation of each row; feasible where <= 0), the
    feasible rows are ranked first by dominance, then the infeasible ones after
    them by their penalty alone, the least violating first.

    Args:
        loss_values: One row per solution, one column per (minimised) objective.
        penalty: Constraint violation per row, or None when there are no constraints.
        n_below: How many of the best rows need exact ranks (Optuna stops sorting there);
            every rank is exact here.

    Raises:
        ValueError: ``penalty`` and ``loss_values`` differ in length.
    """
    del n_below  # all ranks are computed, which satisfies any n_below
    loss_values = np.asarray(loss_values, dtype=float)
    if penalty is None:
        return _ranks(loss_values)
    penalty = np.asarray(penalty, dtype=float)
    if len(penalty) != len(loss_values):
        raise ValueError(
            f"penalty has {len(penalty)} values for {len(loss_values)} rows of loss_values"
        )
    ranks = np.zeros(len(loss_values), dtype=int)
    feasible = penalty <= 0
    ranks[feasible] = _ranks(loss_values[feasible])
    first_infeasible = ranks[feasible].max(initial=-1) + 1
    ranks[~feasible] = first_infeasible + _ranks(penalty[~feasible, None])
    return ranks


def _ranks(loss_values: np.ndarray) -> np.ndarray:
    """Peel Pareto fronts off ``loss_values`` one after another."""
    ranks = np.zeros(len(loss_values), dtype=int)
    remaining = np.arange(len(loss_values))
    rank = 0
    while remaining.size:
        front = ~dominated(loss_values[remaining])
        ranks[remaining[front]] = rank
        remaining = remaining[~front]
        rank += 1
    return ranks


def _get_pareto_front_trials_by_trials(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    consider_constraint: bool = False,
) -> list[FrozenTrial]:
    """The complete trials (feasible ones, with ``consider_constraint``) on the Pareto front.

    Raises:
        ValueError: A trial has another number of values than there are directions.
    """
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if consider_constraint:
        complete = _get_feasible_trials(complete)
    if not complete:
        return []
    if any(len(t.values or []) != len(directions) for t in complete):
        raise ValueError("every trial needs one value per objective direction")
    losses = np.array([_losses(t.values or [], directions) for t in complete], dtype=float)
    on_front = _is_pareto_front(losses, assume_unique_lexsorted=False)
    return [t for t, keep in zip(complete, on_front, strict=True) if keep]


def _get_pareto_front_trials(study: Study, consider_constraint: bool = False) -> list[FrozenTrial]:
    """The Pareto front of a study's complete trials (feasible ones, if asked)."""
    return _get_pareto_front_trials_by_trials(study.trials, study.directions, consider_constraint)
