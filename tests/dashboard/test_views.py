"""The Pareto front the dashboard draws, against a brute-force definition."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

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


def test_one_studys_slow_front_does_not_hold_up_another_studys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunelab.dashboard import _views

    release = threading.Event()

    def slow_for_study_1(data: Any, picked: Any) -> dict[str, Any]:
        if data.study_id == 1:
            release.wait(timeout=30)
        return {"study": data.study_id}

    monkeypatch.setattr(_views, "pareto", slow_for_study_1)
    fronts = _views.Fronts()
    slow = threading.Thread(target=fronts.get, args=(SimpleNamespace(study_id=1, cursor=0), None))
    slow.start()
    try:
        answer: list[dict[str, Any]] = []
        other = threading.Thread(
            target=lambda: answer.append(fronts.get(SimpleNamespace(study_id=2, cursor=0), None))
        )
        other.start()
        other.join(timeout=10)
        assert answer == [{"study": 2}]
    finally:
        release.set()
        slow.join(timeout=30)
