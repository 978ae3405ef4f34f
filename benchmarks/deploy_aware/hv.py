"""Hypervolume of a search's front relative to the whole grid's, in a normalised box.

Every objective is turned into a loss (maximised ones negated), then scaled to [0, 1]
by the grid's own minimum and maximum of that loss, so no objective's units weigh
more than another's. The reference point is 1.1 in every coordinate: just beyond the
grid's worst value, so the extreme points of the front still add volume. The ratio is
the hypervolume of what the search evaluated over that of every configuration in the
grid; 1.0 means the search found points dominating the whole grid front.

Scaling by the grid's range (the issue's protocol) is lenient when the grid holds
very poor configurations: they stretch the box, and the volume near the front's
knee, where searches differ, becomes a small share of it. ``box="front"`` scales by
the range of the grid's Pareto front instead (its ideal and nadir points), the
stricter reading reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tunelab.importance._hypervolume import dominated, hypervolume

REFERENCE = 1.1


def as_losses(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """``values`` (rows of objective values) with maximised columns negated."""
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    return np.asarray(values, dtype=float).reshape(-1, len(signs)) * signs


class Normaliser:
    """Scales losses to [0, 1] by the grid's range of each objective.

    Args:
        grid_losses: Every configuration's losses (rows).
        box: ``grid`` scales by the range of all rows, ``front`` by the range of the
            non-dominated rows.
    """

    def __init__(self, grid_losses: np.ndarray, box: str = "grid") -> None:
        grid_losses = np.asarray(grid_losses, dtype=float)
        if box not in ("grid", "front"):
            raise ValueError(f"box must be 'grid' or 'front', got {box!r}")
        bounds = grid_losses if box == "grid" else grid_losses[front_mask(grid_losses)]
        self.low = bounds.min(axis=0)
        span = bounds.max(axis=0) - self.low
        # A constant objective adds nothing to any front: any scale will do.
        self.span = np.where(span > 0, span, 1.0)
        self.grid_volume = hypervolume(self(grid_losses), np.full(len(self.low), REFERENCE))

    def __call__(self, losses: np.ndarray) -> np.ndarray:
        return (np.asarray(losses, dtype=float) - self.low) / self.span

    def ratio(self, losses: np.ndarray) -> float:
        """Hypervolume of ``losses`` (evaluated points, any order) over the grid's."""
        losses = np.asarray(losses, dtype=float).reshape(-1, len(self.low))
        if len(losses) == 0:
            return 0.0
        volume = hypervolume(self(losses), np.full(len(self.low), REFERENCE))
        return volume / self.grid_volume


def front_mask(losses: np.ndarray) -> np.ndarray:
    """Which rows no other row dominates."""
    return ~dominated(np.asarray(losses, dtype=float))


def covered(targets: np.ndarray, found: np.ndarray) -> np.ndarray:
    """For each target row, whether some found row is at least as good everywhere."""
    targets = np.asarray(targets, dtype=float)
    found = np.asarray(found, dtype=float)
    if len(found) == 0:
        return np.zeros(len(targets), dtype=bool)
    return np.any(np.all(found[None, :, :] <= targets[:, None, :], axis=2), axis=1)
