"""Hypervolume subset selection: pick the ``subset_size`` points worth the most volume.

Optuna's NSGA-II-style samplers call :func:`_solve_hssp` to cut the last front
that fits into a population; plugins import it from ``optuna._hypervolume``.
"""

from __future__ import annotations

import numpy as np

from tunelab._hypervolume._check import check_reference
from tunelab.importance._hypervolume import greedy_subset


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
    check_reference(loss_vals[distinct], reference)
    return indices[distinct[greedy_subset(loss_vals[distinct], subset_size, reference)]]
