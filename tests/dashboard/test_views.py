"""The Pareto front the dashboard draws, against a brute-force definition."""

from __future__ import annotations

import numpy as np
import pytest

from tunelab.dashboard._views import _front


def _brute(points: np.ndarray) -> set[int]:
    return {
        i for i, p in enumerate(points) if not any(np.all(q <= p) and np.any(q < p) for q in points)
    }


@pytest.mark.parametrize("objectives", [2, 3])
def test_front_matches_the_definition_with_ties_and_copies(objectives: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        # Few distinct values: many ties and exact copies.
        points = rng.integers(0, 5, (30, objectives)).astype(float)
        assert set(_front(points).tolist()) == _brute(points)
