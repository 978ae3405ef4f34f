"""Which observations are "good": ranking by value, or by non-domination for several objectives.

Completed trials come first, pruned ones after them (those that got further
first, then by the last value they reported). All values are turned into
minimisation before they get here.
"""

from __future__ import annotations

import math

import numpy as np

COMPLETE, PRUNED = 0, 1
# How many points screen the rest out before the exact pairwise comparison.
_ELITE = 64
_CHUNK = 256


def default_gamma(n: int) -> int:
    """Number of good observations among ``n``: 10 %, at most 25.

    The sqrt rule of hyperopt (``ceil(0.25 * sqrt(n))``) leaves l(x) three
    points after 100 trials, too few for a joint density over several
    dimensions; a fixed fraction gives l(x) enough points to find the shape of
    the good region, and the cap stops it from averaging over ever more
    mediocre points in long studies.
    """
    return min(math.ceil(0.1 * n), 25)


def best_rows_single(
    kind: np.ndarray, step: np.ndarray, value: np.ndarray, n_good: int
) -> np.ndarray:
    """Positions of the ``n_good`` best rows of a single-objective study.

    A linear-time partition, not a sort: only membership of the good set matters.
    """
    complete = np.flatnonzero(kind == COMPLETE)
    if len(complete) >= n_good:
        if len(complete) == n_good:
            return complete
        return complete[np.argpartition(value[complete], n_good - 1)[:n_good]]
    pruned = np.flatnonzero(kind != COMPLETE)
    order = np.lexsort((value[pruned], -step[pruned]))
    return np.concatenate([complete, pruned[order[: n_good - len(complete)]]])


def best_rows_multi(kind: np.ndarray, values: np.ndarray, n_good: int) -> np.ndarray:
    """Positions of ``n_good`` rows, peeling Pareto fronts of the completed rows first.

    The front that does not fit whole contributes its most isolated points
    (largest crowding distance), so the good set spreads along the front.
    """
    remaining = np.flatnonzero(kind == COMPLETE)
    chosen: list[np.ndarray] = []
    need = n_good
    while need > 0 and len(remaining):
        front_mask = nondominated(values[remaining])
        front = remaining[front_mask]
        if len(front) > need:
            crowding = _crowding_distance(values[front])
            front = front[np.argsort(-crowding, kind="stable")[:need]]
        chosen.append(front)
        need -= len(front)
        remaining = remaining[~front_mask]
    if need > 0:
        chosen.append(np.flatnonzero(kind != COMPLETE)[:need])
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=np.intp)


def nondominated(points: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (all objectives minimised).

    A few points with the best objective sums screen out most of the others
    first: whatever they dominate is dominated, and every dominated point is
    dominated by some non-dominated one, which survives the screening. Only
    the survivors are compared pairwise.
    """
    elite = points[np.argsort(points.sum(axis=1), kind="stable")[:_ELITE]]
    alive = ~_dominated_by(points, elite)
    survivors = np.flatnonzero(alive)
    alive[survivors] = ~_dominated_by(points[survivors], points[survivors])
    return alive


def _dominated_by(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Whether each point is dominated by at least one of ``others``, in memory-bounded chunks."""
    out = np.zeros(len(points), dtype=bool)
    for start in range(0, len(points), _CHUNK):
        block = points[start : start + _CHUNK, None, :]
        no_worse = np.all(others[None, :, :] <= block, axis=2)
        better = np.any(others[None, :, :] < block, axis=2)
        out[start : start + _CHUNK] = np.any(no_worse & better, axis=1)
    return out


def _crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance: the extremes of each objective are infinitely isolated."""
    n, m = points.shape
    distance = np.zeros(n)
    for j in range(m):
        order = np.argsort(points[:, j], kind="stable")
        column = points[order, j]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0 and n > 2:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance
