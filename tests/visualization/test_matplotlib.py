"""Matplotlib figures: the artists on each Axes checked against the study."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import tunelab as tl
from tests.visualization.studies import (
    inclusion_exclusion_volume,
    mixed,
    non_dominated,
    two_objectives,
)
from tunelab.importance import MeanDecreaseImpurityImportanceEvaluator, get_param_importances
from tunelab.visualization import matplotlib as tm

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    import matplotlib

    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def study() -> tl.Study:
    return mixed()


@pytest.fixture(scope="module")
def mo_study() -> tl.Study:
    return two_objectives()


def complete(study: tl.Study) -> list[tl.FrozenTrial]:
    return study.get_trials(states=(tl.TrialState.COMPLETE,))


def labelled(items: list, label: str) -> object:
    matches = [i for i in items if i.get_label() == label]
    assert len(matches) == 1, [i.get_label() for i in items]
    return matches[0]


def test_history_best_line_is_the_running_min(study: tl.Study) -> None:
    ax = tm.plot_optimization_history(study)
    trials = complete(study)
    values = [t.values[0] for t in trials]
    best = labelled(ax.lines, "Best Value")
    np.testing.assert_array_equal(best.get_ydata(), np.minimum.accumulate(values))
    dots = labelled(ax.collections, "Objective Value")
    np.testing.assert_array_equal(dots.get_offsets()[:, 1], values)
    np.testing.assert_array_equal(dots.get_offsets()[:, 0], [t.number for t in trials])


def test_edf_lines_are_monotone_in_unit_interval(study: tl.Study) -> None:
    ax = tm.plot_edf([study, mixed(seed=2)])
    assert len(ax.lines) == 2
    for line in ax.lines:
        y = line.get_ydata()
        assert np.all(np.diff(y) >= 0) and y[0] >= 0 and y[-1] == 1.0


def test_intermediate_values_one_line_per_reporting_trial(study: tl.Study) -> None:
    ax = tm.plot_intermediate_values(study)
    reported = [t for t in study.get_trials() if t.intermediate_values]
    assert len(ax.lines) == len(reported)
    np.testing.assert_array_equal(
        ax.lines[0].get_ydata(), [reported[0].intermediate_values[s] for s in range(3)]
    )


@pytest.mark.slow
def test_param_importance_bars_are_the_importances(study: tl.Study) -> None:
    ax = tm.plot_param_importances(study, evaluator=MeanDecreaseImpurityImportanceEvaluator(seed=0))
    expected = get_param_importances(
        study, evaluator=MeanDecreaseImpurityImportanceEvaluator(seed=0)
    )
    widths = [p.get_width() for p in ax.patches]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert dict(zip(labels, widths, strict=True)) == pytest.approx(expected)


def test_slice_axes_follow_the_parameter_kinds(study: tl.Study) -> None:
    axes = tm.plot_slice(study)
    by_name = {ax.get_xlabel(): ax for ax in axes}
    assert sorted(by_name) == ["kind", "lr", "n", "x"]
    assert by_name["lr"].get_xscale() == "log"
    assert [t.get_text() for t in by_name["kind"].get_xticklabels()] == ["a", "b", "c"]
    offsets = by_name["x"].collections[0].get_offsets()
    np.testing.assert_array_equal(offsets[:, 0], [t.params["x"] for t in complete(study)])


@pytest.mark.slow
def test_contour_axes_are_the_two_params(study: tl.Study) -> None:
    ax = tm.plot_contour(study, params=["lr", "x"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("lr", "x")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    grid = tm.plot_contour(study, params=["x", "lr", "kind"])
    assert grid.shape == (3, 3)
    assert grid[2][0].get_xlabel() == "x" and grid[2][0].get_ylabel() == "kind"
    assert [t.get_text() for t in grid[2][0].get_yticklabels()] == ["a", "b", "c"]


def test_rank_colours_put_the_best_trial_at_zero(study: tl.Study) -> None:
    ax = tm.plot_rank(study, params=["x", "lr"])
    colours = ax.collections[0].get_array()
    values = np.array([t.values[0] for t in complete(study)])
    assert colours[np.argmin(values)] == 0.0 and colours[np.argmax(values)] == 1.0


def test_parallel_coordinate_one_line_per_trial(study: tl.Study) -> None:
    ax = tm.plot_parallel_coordinate(study, params=["x", "lr"])
    assert len(ax.lines) == len(complete(study))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Objective Value", "x", "lr"]


def test_pareto_front_points_are_the_non_dominated_trials(mo_study: tl.Study) -> None:
    ax = tm.plot_pareto_front(mo_study)
    points = np.array([t.values for t in complete(mo_study)])
    best = non_dominated(points, np.array([1.0, -1.0]))
    front = labelled(ax.collections, "Best Trial").get_offsets()
    assert sorted(map(tuple, np.asarray(front))) == sorted(tuple(points[i]) for i in best)


def test_hypervolume_history_is_exact_and_non_decreasing() -> None:
    study = two_objectives(seed=6, n_trials=9)
    ax = tm.plot_hypervolume_history(study, [2.0, -1.0])
    volumes = ax.lines[0].get_ydata()
    assert np.all(np.diff(volumes) >= 0)
    signs = np.array([1.0, -1.0])
    points = np.array([t.values for t in complete(study)]) * signs
    assert volumes[-1] == pytest.approx(
        inclusion_exclusion_volume(points, np.array([2.0, -1.0]) * signs)
    )


def test_timeline_has_one_bar_per_trial(study: tl.Study) -> None:
    ax = tm.plot_timeline(study)
    assert len(ax.patches) == len(study.get_trials())
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"COMPLETE", "FAIL"}
    assert all(p.get_width() > 0 or math.isclose(p.get_width(), 0) for p in ax.patches)


def test_missing_matplotlib_names_the_extra(
    study: tl.Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    assert not tm.is_available()
    with pytest.raises(ImportError, match=r"tunelab\[report\]"):
        tm.plot_edf(study)
