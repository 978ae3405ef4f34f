"""Hypervolume subset selection: pick the ``subset_size`` points worth the most volume.

Optuna's NSGA-II-style samplers call :func:`_solve_hssp` to cut the last front
that fits into a population; plugins import it from ``optuna._hypervolume``.
"""

from __future__ import annotations

import numpy as np


def _solve_hssp(
    rank_i_loss_vals: np.ndarray,
    rank_i_indices: np.ndarray,
    subset_size: int,
    reference_point: np.ndarray,
) -> np.ndarray:
    """``subset_size`` of ``rank_i_indices`` whose points together dominate the most volume.

    Greedy: each step adds the point that adds the most hypervolume to those
    chosen, which is within a factor 1 - 1/e of the best subset. Equal points add
    nothing to each other, so a copy is taken only once every distinct point is.

    Args:
        rank_i_loss_vals: One row per candidate, one column per (minimised) objective.
        rank_i_indices: The identifier of each row, which is what is returned.
        subset_size: How many to choose (at most the number of rows).
        reference_point: Bound of the volume; no worse than every row.

    Returns:
        The chosen identifiers, best first.
    """
    loss_vals = np.asarray(rank_i_loss_vals, dtype=float)
    indices = np.asarray(rank_i_indices)
    if subset_size >= len(indices):
        return indices[:subset_size]
    _, first_rows = np.unique(loss_vals, axis=0, return_index=True)
    distinct = np.sort(first_rows)
    copies = np.setdiff1d(np.arange(len(indices)), distinct, assume_unique=True)
    if subset_size > len(distinct):
        return indices[np.concatenate([distinct, copies[: subset_size - len(distinct)]])]
    reference = np.asarray(reference_point, dtype=float)
    if not np.isfinite(reference).all():
        # Every point adds an infinite volume: none is worth more than another.
        return indices[distinct[:subset_size]]
    return indices[distinct[_greedy(loss_vals[distinct], subset_size, reference)]]


def _greedy(points: np.ndarray, subset_size: int, reference: np.ndarray) -> np.ndarray:
    from tunelab._hypervolume import compute_hypervolume

    chosen: list[int] = []
    left = list(range(len(points)))
    volume = 0.0
    for _ in range(subset_size):
        with np.errstate(invalid="ignore"):
            # Once the chosen volume is infinite, no gain is measurable (inf - inf).
            gains = np.array(
                [compute_hypervolume(points[[*chosen, j]], reference) - volume for j in left]
            )
        gains = np.where(np.isnan(gains), -np.inf, gains)
        pick = left[int(np.argmax(gains))]
        volume = compute_hypervolume(points[[*chosen, pick]], reference)
        chosen.append(pick)
        left.remove(pick)
    return np.array(chosen, dtype=np.intp)
