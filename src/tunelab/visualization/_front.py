"""The Pareto front's hypervolume after each trial, for reports and the dashboard.

The reference point is each objective's worst value among the trials that were ever
on the front of the feasible complete trials, moved outwards by a tenth of their
range (or of the value, where they share one value): every front the curve measures
then lies inside it, so the curve rises from the first trial, and the chart can state
the point it used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from tunelab.importance._hypervolume import hypervolume
from tunelab.trial import StudyDirection

MARGIN = 0.1
# Study user attribute that `tunelab register --pick` sets to the trial it registered:
# {"number": n, "model": name, "version": v, "rule": ..., "by": ...}.
PICKED_TRIAL_KEY = "picked_trial"
# Exact hypervolume in three or more objectives costs far more per front change (a
# 300-trial 3-objective front took 46 s trial by trial): with more trials than this,
# reports and the dashboard evaluate it at this many evenly spread trials.
SPREAD_CHECKPOINTS = 50
# Rows checked against the front at once before the survivors are added one by one.
_CHUNK = 256


@dataclass(frozen=True)
class HypervolumeHistory:
    """The dominated hypervolume of the running front after each trial.

    Attributes:
        numbers: Trial numbers, ascending.
        volumes: The hypervolume of the front of the trials up to each (non-decreasing).
        reference: The reference point, in the objectives' stored values.
    """

    numbers: np.ndarray
    volumes: np.ndarray
    reference: np.ndarray


def signs(directions: Sequence[StudyDirection]) -> np.ndarray:
    """+1 for minimised objectives, -1 for maximised ones (values times signs are losses)."""
    return np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])


def reference_point(front: np.ndarray) -> np.ndarray:
    """Each column's worst (largest) loss in ``front`` plus :data:`MARGIN` of its range."""
    worst = front.max(axis=0)
    span = worst - front.min(axis=0)
    fallback = np.where(worst != 0, np.abs(worst), 1.0)
    return worst + MARGIN * np.where(span > 0, span, fallback)


def hypervolume_history(
    numbers: Sequence[int] | np.ndarray,
    values: np.ndarray,
    directions: Sequence[StudyDirection],
    checkpoints: np.ndarray | None = None,
) -> HypervolumeHistory | None:
    """Hypervolume after each trial of the feasible complete ``values`` (rows by number).

    Args:
        numbers: Trial numbers of the rows, ascending.
        values: One row of stored objective values per trial (finite).
        directions: The study's directions.
        checkpoints: Only these row indices (ascending), to bound the work on large
            studies with three or more objectives; every row by default.

    Returns:
        None when there is no row.
    """
    if len(numbers) == 0:
        return None
    sign = signs(directions)
    losses = np.asarray(values, dtype=float) * sign
    ever = [row for row, _ in _growing_front(losses)]
    reference = reference_point(losses[ever])
    rows = np.arange(len(numbers)) if checkpoints is None else np.asarray(checkpoints, dtype=int)
    return HypervolumeHistory(
        np.asarray(numbers, dtype=int)[rows],
        running_hypervolume(losses, reference, rows),
        reference * sign,
    )


def distinct_front(losses: np.ndarray) -> np.ndarray:
    """The distinct points of the Pareto front of ``losses`` (every column minimised).

    Copies of a front point appear once; every row is weakly dominated by one of them.
    """
    front = np.empty((0, losses.shape[1]))
    for _, grown in _growing_front(losses):
        front = grown
    return front


def _growing_front(losses: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(row, front of the rows up to it) for each row that changes the front.

    Only a row that no earlier row weakly dominates changes it, so rows are first
    checked against the front in blocks, and the few survivors update it.
    """
    n, m = losses.shape
    front = np.empty((0, m))
    for start in range(0, n, _CHUNK):
        block = losses[start : start + _CHUNK]
        covered = np.any(np.all(front[None, :, :] <= block[:, None, :], axis=2), axis=1)
        for offset in np.flatnonzero(~covered):
            point = block[offset]
            if (front <= point).all(axis=1).any():
                continue  # an earlier survivor of this block covers it
            front = np.vstack([front[~(point <= front).all(axis=1)], point])
            yield start + int(offset), front


def running_hypervolume(
    losses: np.ndarray, reference: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """The hypervolume of the front of ``losses[: i + 1]`` for each ``i`` in ``rows``.

    Every objective is minimised; ``rows`` (ascending) defaults to every row.
    """
    rows = np.arange(len(losses)) if rows is None else rows
    out = np.zeros(len(rows))
    done = 0
    front = np.empty((0, losses.shape[1]))
    for row, grown in _growing_front(losses):
        until = int(np.searchsorted(rows, row))  # rows before this one see the old front
        if until > done:
            out[done:until] = _volume(front, reference)
            done = until
        front = grown
    if done < len(rows):
        out[done:] = _volume(front, reference)
    return out


def _volume(front: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of a non-dominated ``front``: one sort for two objectives."""
    if front.shape[1] != 2 or len(front) == 0:
        return hypervolume(front, reference)
    inside = front[(front < reference).all(axis=1)]
    ordered = inside[np.argsort(inside[:, 0])]
    widths = np.diff(np.append(ordered[:, 0], reference[0]))
    return float(widths @ (reference[1] - ordered[:, 1]))


def thin_steps(numbers: np.ndarray, volumes: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """At most ``limit`` (number, volume) points of a step curve: where it rises, and the end.

    When it rises more often than that, evenly spread rises are kept, always the last.
    """
    if numbers.size == 0:
        return []
    rises = np.flatnonzero(np.r_[True, volumes[1:] != volumes[:-1]])
    if rises.size > limit - 1:
        rises = rises[np.unique(np.linspace(0, rises.size - 1, max(limit - 1, 1)).astype(int))]
    keep = np.unique(np.r_[rises, numbers.size - 1])
    return [(int(numbers[i]), float(volumes[i])) for i in keep]


def spread_checkpoints(n_rows: int, n_objectives: int) -> np.ndarray | None:
    """Row indices at which to evaluate the hypervolume, or None for every row.

    Two objectives are cheap enough for every row; with three or more and more than
    :data:`SPREAD_CHECKPOINTS` rows, evenly spread rows (the last one included).
    """
    if n_objectives <= 2 or n_rows <= SPREAD_CHECKPOINTS:
        return None
    return np.unique(np.linspace(0, n_rows - 1, SPREAD_CHECKPOINTS).astype(int))
