"""Plotly figures: every trace checked against the study it was drawn from."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import tunelab as tl
from tests.visualization.studies import (
    inclusion_exclusion_volume,
    mixed,
    non_dominated,
    two_objectives,
)
from tunelab import visualization as tv
from tunelab.importance import FanovaImportanceEvaluator, get_param_importances
from tunelab.samplers import RandomSampler

pytest.importorskip("plotly")


@pytest.fixture(scope="module")
def study() -> tl.Study:
    return mixed()


@pytest.fixture(scope="module")
def mo_study() -> tl.Study:
    return two_objectives()


def complete(study: tl.Study) -> list[tl.FrozenTrial]:
    return study.get_trials(states=(tl.TrialState.COMPLETE,))


def by_name(fig: object, name: str) -> object:
    matches = [t for t in fig.data if t.name == name]  # type: ignore[attr-defined]
    assert len(matches) == 1, [t.name for t in fig.data]  # type: ignore[attr-defined]
    return matches[0]


# -- history, EDF, intermediate values --


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_history_best_line_is_the_running_best(direction: str) -> None:
    study = mixed(seed=1, direction=direction)
    fig = tv.plot_optimization_history(study)
    trials = complete(study)
    values = [t.values[0] for t in trials]
    dots, best = by_name(fig, "Objective Value"), by_name(fig, "Best Value")
    assert list(dots.x) == [t.number for t in trials]
    assert list(dots.y) == values
    expected = [
        (min if direction == "minimize" else max)(values[: i + 1]) for i in range(len(values))
    ]
    assert list(best.y) == expected
    assert fig.layout.yaxis.title.text == "Objective Value"


def test_history_of_several_studies_and_error_bars() -> None:
    studies = [mixed(seed=s) for s in (1, 2, 3)]
    fig = tv.plot_optimization_history(studies, target_name="loss")
    names = [t.name for t in fig.data]
    assert names == [
        f"{kind} of {s.study_name}" for s in studies for kind in ("loss", "Best Value")
    ]
    mean = tv.plot_optimization_history(studies, error_bar=True)
    dots = by_name(mean, "Objective Value")
    per_number: dict[int, list[float]] = {}
    for s in studies:
        for t in complete(s):
            per_number.setdefault(t.number, []).append(t.values[0])
    assert list(dots.x) == sorted(per_number)
    np.testing.assert_allclose(dots.y, [np.mean(per_number[n]) for n in sorted(per_number)])
    np.testing.assert_allclose(
        dots.error_y.array, [np.std(per_number[n]) for n in sorted(per_number)]
    )


def test_history_with_a_target_has_no_best_line(study: tl.Study) -> None:
    fig = tv.plot_optimization_history(study, target=lambda t: t.params["x"], target_name="x")
    assert [t.name for t in fig.data] == ["x"]
    assert list(fig.data[0].y) == [t.params["x"] for t in complete(study)]


def test_edf_is_monotone_in_unit_interval_and_counts_the_values() -> None:
    studies = [mixed(seed=1), mixed(seed=2)]
    fig = tv.plot_edf(studies)
    assert len(fig.data) == 2
    for trace, s in zip(fig.data, studies, strict=True):
        y = np.asarray(trace.y)
        assert np.all(np.diff(y) >= 0) and y[0] >= 0 and y[-1] == 1.0
        values = np.array([t.values[0] for t in complete(s)])
        for x, share in zip(trace.x[::17], y[::17], strict=True):
            assert share == pytest.approx(np.mean(values <= x))


def test_intermediate_values_are_the_reported_curves(study: tl.Study) -> None:
    fig = tv.plot_intermediate_values(study)
    reported = [t for t in study.get_trials() if t.intermediate_values]
    assert len(fig.data) == len(reported)
    for trace, trial in zip(fig.data, reported, strict=True):
        assert trace.name == f"Trial{trial.number}"
        steps = sorted(trial.intermediate_values)
        assert list(trace.x) == steps
        assert list(trace.y) == [trial.intermediate_values[s] for s in steps]


# -- parameters --


@pytest.mark.slow
def test_param_importances_bars_are_the_importances(study: tl.Study) -> None:
    evaluator = FanovaImportanceEvaluator(seed=0)
    fig = tv.plot_param_importances(study, evaluator=evaluator)
    expected = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    bars = fig.data[0]
    assert bars.orientation == "h"
    assert dict(zip(bars.y, bars.x, strict=True)) == pytest.approx(expected)
    assert list(bars.y) == list(expected)[::-1]  # largest drawn last, at the top


def test_param_importances_of_each_objective(mo_study: tl.Study) -> None:
    fig = tv.plot_param_importances(mo_study)
    assert [t.name for t in fig.data] == ["Objective Value 0", "Objective Value 1"]


def test_parallel_coordinate_dimensions_carry_the_trials(study: tl.Study) -> None:
    fig = tv.plot_parallel_coordinate(study, params=["x", "lr", "kind"])
    dims = fig.data[0].dimensions
    trials = complete(study)
    assert [d.label for d in dims] == ["Objective Value", "x", "lr", "kind"]
    assert list(dims[0].values) == [t.values[0] for t in trials]
    assert list(dims[1].values) == [t.params["x"] for t in trials]
    np.testing.assert_allclose(dims[2].values, [math.log10(t.params["lr"]) for t in trials])
    assert list(dims[3].ticktext) == ["a", "b", "c"]
    assert [list(dims[3].ticktext)[int(v)] for v in dims[3].values] == [
        t.params["kind"] for t in trials
    ]


def test_slice_axes_follow_the_parameter_kinds(study: tl.Study) -> None:
    fig = tv.plot_slice(study)
    names = sorted(["x", "lr", "n", "kind"])
    assert [t.name for t in fig.data] == names
    layout = fig.layout
    axes = {t.name: layout[f"xaxis{'' if i == 0 else i + 1}"] for i, t in enumerate(fig.data)}
    assert axes["lr"].type == "log"
    assert axes["kind"].type == "category"
    assert axes["x"].type in (None, "-", "linear")
    kind = by_name(fig, "kind")
    assert list(kind.x) == [t.params["kind"] for t in complete(study)]
    assert list(kind.y) == [t.values[0] for t in complete(study)]


def test_contour_axes_are_the_two_params_with_log_and_categories(study: tl.Study) -> None:
    fig = tv.plot_contour(study, params=["lr", "kind"])
    assert fig.layout.xaxis.title.text == "lr" and fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.title.text == "kind"
    assert list(fig.layout.yaxis.ticktext) == ["a", "b", "c"]
    contour = next(t for t in fig.data if t.type == "contour")
    trials = complete(study)
    lrs = [t.params["lr"] for t in trials]
    assert min(contour.x) == pytest.approx(min(lrs)) and max(contour.x) == pytest.approx(max(lrs))
    z = np.asarray(contour.z, dtype=float)
    values = [t.values[0] for t in trials]
    assert np.nanmin(z) >= min(values) - 1e-9 and np.nanmax(z) <= max(values) + 1e-9
    dots = next(t for t in fig.data if t.type == "scatter")
    assert sorted(dots.x) == sorted(lrs)


@pytest.mark.slow
def test_contour_of_many_params_is_a_grid_of_every_pair(study: tl.Study) -> None:
    fig = tv.plot_contour(study, params=["x", "lr", "n"])
    scatters = [t for t in fig.data if t.type == "scatter"]
    assert len(scatters) == 6
    titles = {(fig.layout[k].title.text) for k in fig.layout if k.startswith("xaxis")}
    assert {"x", "lr", "n"} <= titles


def test_rank_colours_are_ranks_with_the_best_at_zero(study: tl.Study) -> None:
    fig = tv.plot_rank(study, params=["x", "n"])
    trace = fig.data[0]
    trials = complete(study)
    values = np.array([t.values[0] for t in trials])
    colours = np.asarray(trace.marker.color)
    assert colours[np.argmin(values)] == 0.0 and colours[np.argmax(values)] == 1.0
    assert np.all(np.diff(colours[np.argsort(values)]) > 0)
    assert list(trace.x) == [t.params["x"] for t in trials]


# -- multi-objective --


def test_pareto_front_points_are_the_non_dominated_trials(mo_study: tl.Study) -> None:
    fig = tv.plot_pareto_front(mo_study, target_names=["cost", "gain"])
    trials = complete(mo_study)
    points = np.array([t.values for t in trials])
    best = non_dominated(points, np.array([1.0, -1.0]))
    front = by_name(fig, "Best Trial")
    assert set(front.customdata) == {trials[i].number for i in best}
    assert sorted(front.x) == sorted(points[i, 0] for i in best)
    others = by_name(fig, "Trial")
    assert len(others.x) + len(front.x) == len(trials)
    assert fig.layout.xaxis.title.text == "cost" and fig.layout.yaxis.title.text == "gain"
    only_front = tv.plot_pareto_front(mo_study, include_dominated_trials=False)
    assert len(by_name(only_front, "Trial").x) == 0


def test_pareto_front_with_constraints_and_three_targets(mo_study: tl.Study) -> None:
    fig = tv.plot_pareto_front(mo_study, constraints_func=lambda t: [t.params["a"] - 0.5])
    infeasible = by_name(fig, "Infeasible Trial")
    assert all(t.params["a"] > 0.5 for t in complete(mo_study) if t.number in infeasible.customdata)
    assert all(x <= 0.5 + 0.2 for x in by_name(fig, "Best Trial").x)
    three = tv.plot_pareto_front(mo_study, targets=lambda t: (*t.values, t.params["b"]))
    assert three.data[0].type == "scatter3d"


def test_hypervolume_history_is_non_decreasing_and_exact() -> None:
    study = two_objectives(seed=4, n_trials=10)
    reference = [1.5, -0.5]
    fig = tv.plot_hypervolume_history(study, reference)
    volumes = np.asarray(fig.data[0].y)
    assert np.all(np.diff(volumes) >= 0)
    trials = complete(study)
    signs = np.array([1.0, -1.0])
    for k in range(1, len(trials) + 1):
        points = np.array([t.values for t in trials[:k]]) * signs
        assert volumes[k - 1] == pytest.approx(
            inclusion_exclusion_volume(points, np.array(reference) * signs)
        )


def test_hypervolume_history_of_three_objectives_matches_brute_force() -> None:
    study = tl.create_study(directions=["minimize"] * 3, sampler=RandomSampler(seed=5))
    study.optimize(
        lambda t: (
            t.suggest_float("a", 0, 1),
            t.suggest_float("b", 0, 1),
            t.suggest_float("c", 0, 1),
        ),
        n_trials=8,
    )
    volumes = tv.plot_hypervolume_history(study, [1.0, 1.0, 1.0]).data[0].y
    points = np.array([t.values for t in complete(study)])
    assert volumes[-1] == pytest.approx(inclusion_exclusion_volume(points, np.ones(3)))


# -- timeline --


def test_timeline_has_a_bar_per_trial_by_state(study: tl.Study) -> None:
    fig = tv.plot_timeline(study)
    trials = study.get_trials()
    drawn = {n: trace.name for trace in fig.data for n in trace.y}
    assert drawn == {t.number: t.state.name for t in trials}
    assert {t.name for t in fig.data} == {"COMPLETE", "FAIL"}
    assert fig.layout.xaxis.type == "date"
    recent = tv.plot_timeline(study, n_recent_trials=5)
    assert sorted(n for trace in recent.data for n in trace.y) == [t.number for t in trials[-5:]]
    fig.to_json()


# -- errors and the optional dependency --


def test_bad_input_gets_a_clear_error(study: tl.Study, mo_study: tl.Study) -> None:
    with pytest.raises(ValueError, match="target="):
        tv.plot_optimization_history(mo_study)
    with pytest.raises(ValueError, match=r"\['nope'\] are in no complete trial"):
        tv.plot_slice(study, params=["nope"])
    with pytest.raises(ValueError, match="2 or more parameters"):
        tv.plot_contour(study, params=["x"])
    with pytest.raises(ValueError, match="2 or more objectives"):
        tv.plot_pareto_front(study)
    with pytest.raises(ValueError, match="target_names must name 2"):
        tv.plot_pareto_front(mo_study, target_names=["one"])
    with pytest.raises(ValueError, match="reference_point must be 2 finite numbers"):
        tv.plot_hypervolume_history(mo_study, [1.0])
    with pytest.raises(ValueError, match="n_recent_trials must be a positive integer"):
        tv.plot_timeline(study, n_recent_trials=0)
    with pytest.raises(TypeError, match="study must be a Study"):
        tv.plot_edf([study, 3])


def test_every_figure_serialises(study: tl.Study, mo_study: tl.Study) -> None:
    figures = [
        tv.plot_optimization_history(study),
        tv.plot_intermediate_values(study),
        tv.plot_parallel_coordinate(study),
        tv.plot_slice(study),
        tv.plot_contour(study, params=["x", "lr"]),
        tv.plot_rank(study),
        tv.plot_edf(study),
        tv.plot_pareto_front(mo_study),
        tv.plot_hypervolume_history(mo_study, [2.0, -1.0]),
    ]
    for fig in figures:
        assert fig.layout.title.text
        fig.to_json()


def test_empty_study_draws_empty_figures() -> None:
    empty = tl.create_study()
    assert len(tv.plot_optimization_history(empty).data) == 2
    assert len(tv.plot_edf(empty).data) == 0
    assert len(tv.plot_timeline(empty).data) == 0


def test_missing_plotly_names_the_extra(study: tl.Study, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    assert not tv.is_available()
    with pytest.raises(ImportError, match=r"tunelab\[report\]"):
        tv.plot_optimization_history(study)


def test_three_objective_hypervolume_is_evaluated_at_spread_trials_only() -> None:
    from tunelab.visualization._front import (
        SPREAD_CHECKPOINTS,
        hypervolume_history,
        spread_checkpoints,
    )

    assert spread_checkpoints(300, 2) is None
    assert spread_checkpoints(SPREAD_CHECKPOINTS, 3) is None
    rows = spread_checkpoints(300, 3)
    assert rows is not None and len(rows) == SPREAD_CHECKPOINTS
    assert rows[0] == 0 and rows[-1] == 299 and np.all(np.diff(rows) > 0)
    # Every point on one front (the costly case): the spread history ends where the
    # full one does.
    angles = np.random.default_rng(0).uniform(0.05, np.pi / 2 - 0.05, (120, 2))
    values = np.column_stack(
        [
            np.cos(angles[:, 0]) * np.cos(angles[:, 1]),
            np.cos(angles[:, 0]) * np.sin(angles[:, 1]),
            np.sin(angles[:, 0]),
        ]
    )
    directions = [tl.study.StudyDirection.MINIMIZE] * 3
    numbers = list(range(120))
    full = hypervolume_history(numbers, values, directions)
    spread = hypervolume_history(numbers, values, directions, spread_checkpoints(120, 3))
    assert full is not None and spread is not None
    assert len(spread.volumes) <= SPREAD_CHECKPOINTS
    assert spread.volumes[-1] == pytest.approx(full.volumes[-1])
