"""Hypervolume helpers under Optuna's private module path ``optuna._hypervolume``.

Code written for Optuna (OptunaHub samplers, hypervolume-based stopping rules)
imports ``compute_hypervolume`` and ``_solve_hssp`` from there; with
``import tunelab as optuna`` it finds these. Every objective is minimised.
"""

from __future__ import annotations

import numpy as np

from tunelab._hypervolume._check import check_reference
from tunelab._hypervolume.hssp import _solve_hssp
from tunelab.importance._hypervolume import hypervolume


def compute_hypervolume(
    loss_vals: np.ndarray, reference_point: np.ndarray, assume_pareto: bool = False
) -> float:
    """The exact volume that ``loss_vals`` dominate, bounded by ``reference_point``.

    Args:
        loss_vals: One row per solution, one column per (minimised) objective.
        reference_point: The bound; every row must be no worse than it.
        assume_pareto: A promise that no row dominates another, which only lets
            Optuna go faster: the volume is the same either way.

    Returns:
        The volume: infinite when the reference point is, 0.0 without rows.

    Raises:
        ValueError: A row is worse than the reference point in some objective, or a
            value is NaN.
    """
    del assume_pareto  # the volume does not depend on it
    loss_vals = np.asarray(loss_vals, dtype=float)
    reference_point = np.asarray(reference_point, dtype=float)
    check_reference(loss_vals, reference_point)
    if not np.isfinite(reference_point).all():
        return float("inf")
    if loss_vals.size == 0:
        return 0.0
    return hypervolume(loss_vals, reference_point)


__all__ = ["_solve_hssp", "compute_hypervolume"]
