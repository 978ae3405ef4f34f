"""Hypervolume and non-dominated ranking of loss vectors (every objective minimised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Rows compared at once when looking for dominated points: bounds memory at ~32 MB.
_CHUNK_CELLS = 4_000_000


def dominated(points: np.ndarray) -> np.ndarray:
    """Which rows another row dominates (no worse everywhere, better somewhere)."""
    n, m = points.shape
    out = np.zeros(n, dtype=bool)
    step = max(1, _CHUNK_CELLS // max(1, n * m))
    for start in range(0, n, step):
        block = points[start : start + step]
        no_worse = np.all(points[None, :, :] <= block[:, None, :], axis=2)
        better = np.any(points[None, :, :] < block[:, None, :], axis=2)
        out[start : start + step] = np.any(no_worse & better, axis=1)
    return out


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (exact).

    Two objectives take one sort; more slice along the last objective and recurse, which
    is fine for the fronts of a study (hundreds of points) in a few dimensions.
    """
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if points.size == 0:
        return 0.0
    points = points[(points < reference).all(axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    points = points[~dominated(points)]
    if points.shape[1] == 2:
        points = points[np.argsort(points[:, 0], kind="stable")]
        lowest = np.minimum.accumulate(points[:, 1])
        widths = np.diff(np.append(points[:, 0], reference[0]))
        return float(widths @ (reference[1] - lowest))
    points = points[np.argsort(points[:, -1], kind="stable")]
    tops = np.append(points[1:, -1], reference[-1])
    total = 0.0
    for i in range(len(points)):
        height = tops[i] - points[i, -1]
        if height > 0:
            total += height * hypervolume(points[: i + 1, :-1], reference[:-1])
    return total


def best_first(points: np.ndarray, cuts: Sequence[int]) -> np.ndarray:
    """Row indices ordered by non-domination rank, good enough for every count in ``cuts``.

    Fronts are peeled until the largest cut is covered. A front that a cut splits is
    ordered greedily by hypervolume contribution (the usual approximation of the
    hypervolume subset selection problem), so the first ``k`` rows are a good subset for
    every ``k`` in ``cuts``; rows past the largest cut keep no particular order.
    """
    n = len(points)
    order: list[int] = []
    remaining = np.arange(n)
    need = min(max(cuts, default=n), n)
    while remaining.size and len(order) < need:
        front = remaining[~dominated(points[remaining])]
        remaining = np.setdiff1d(remaining, front, assume_unique=True)
        inside = [c - len(order) for c in cuts if len(order) < c < len(order) + front.size]
        if inside:
            front = _greedy_by_contribution(points[front], front, max(inside))
        order.extend(front.tolist())
    return np.array(order + remaining.tolist(), dtype=np.intp)


def _greedy_by_contribution(points: np.ndarray, index: np.ndarray, picks: int) -> np.ndarray:
    worst = points.max(axis=0)
    span = worst - points.min(axis=0)
    reference = worst + np.where(span > 0, 0.1 * span, 1.0)
    chosen = greedy_subset(points, picks, reference)
    left = np.setdiff1d(np.arange(len(points)), chosen, assume_unique=True)
    return np.concatenate([index[chosen], index[left]]).astype(np.intp)


def greedy_subset(points: np.ndarray, picks: int, reference: np.ndarray) -> np.ndarray:
    """Positions of ``picks`` rows of ``points``, each adding the most hypervolume to those
    chosen before it (within a factor 1 - 1/e of the best subset), in the order chosen.

    Args:
        points: One row per candidate, every objective minimised.
        picks: How many to choose (at most the number of rows).
        reference: Bound of the volume.
    """
    chosen: list[int] = []
    left = list(range(len(points)))
    volume = 0.0
    for _ in range(picks):
        with np.errstate(invalid="ignore"):
            # Once the chosen volume is infinite, no gain is measurable (inf - inf).
            gains = np.array([hypervolume(points[[*chosen, j]], reference) - volume for j in left])
        gains = np.where(np.isnan(gains), -np.inf, gains)
        pick = left[int(np.argmax(gains))]
        volume = hypervolume(points[[*chosen, pick]], reference)
        chosen.append(pick)
        left.remove(pick)
    return np.array(chosen, dtype=np.intp)
