"""Study reports read like the metric they optimise: names, signs, ticks, caveats, layout."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import tunelab as tl
from tests.report.test_report import Element, Page, Plot, _points
from tunelab.config import load_study_config, run_study_config
from tunelab.report import study_report
from tunelab.report._plotly import fit_label
from tunelab.report._scale import LogScale, make_scale
from tunelab.samplers import RandomSampler

_RMSE = "neg_root_mean_squared_error"


def _regression_study(n_trials: int) -> tl.Study:
    """A config-like study: negated RMSE optimised, R² recorded per trial, int parameters."""
    study = tl.create_study(
        study_name=f"regression-{n_trials}", direction="maximize", sampler=RandomSampler(seed=0)
    )
    study.set_user_attr("metric", _RMSE)
    study.set_user_attr("config", {"metrics": [_RMSE, "r2"]})

    def objective(trial: tl.Trial) -> float:
        depth = trial.suggest_int("max_depth", 1, 4)
        trees = trial.suggest_int("n_estimators", 10, 300, log=True)
        kind = trial.suggest_categorical("criterion", ["squared_error", "absolute_error", "mse"])
        rmse = 40 + 10 * abs(depth - 3) + 5 * math.log(trees) + 3 * (kind == "absolute_error")
        trial.set_user_attr("r2", 1 - rmse / 100)
        return -rmse

    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.fixture(scope="module")
def regression() -> tuple[tl.Study, Page, str]:
    study = _regression_study(7)
    text = study_report(study)
    return study, Page(text), text


def _ticks(plot: Plot, axis: str | None = None, kind: str | None = None) -> list[float]:
    return [
        float(e.attrs["data-value"])
        for e in plot.find("text", "tick")
        if (axis is None or e.under("class", axis)) and (kind is None or e.under("data-kind", kind))
    ]


def _svg_texts(plot: Plot) -> list[str]:
    return [e.text for e in plot.find("text")]


# -- metric names and signs --


def test_axes_name_the_metric_and_show_its_natural_sign(regression: Any) -> None:
    study, page, text = regression
    history = page.plot("history")
    assert "root_mean_squared_error (minimize)" in _svg_texts(history)
    assert "objective (maximize)" not in text
    rmse = sorted(-t.value for t in study.trials)
    y_ticks = _ticks(history, "y-axis")
    assert min(y_ticks) > 0 and min(y_ticks) <= rmse[0] + 10  # the axis shows RMSE, not -RMSE
    assert "Directions</dt><dd>minimize root_mean_squared_error" in text
    assert f"Best value</dt><dd>{rmse[0]:.6g} (trial" in text
    # The best table ranks by RMSE, smallest first, under the metric's name.
    assert "<th>root_mean_squared_error</th>" in text
    assert re.search(rf'<td class="num">{rmse[0]:.6g}</td>', text)


def test_other_recorded_metrics_are_plotted(regression: Any) -> None:
    study, page, _ = regression
    chart = page.plot("metric", "r2")
    assert len(chart.find("circle", "point")) == len(study.trials)
    assert "r2 (maximize)" in _svg_texts(chart)


def test_studies_without_a_metric_name_keep_the_objective_label() -> None:
    study = tl.create_study(study_name="plain", sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=5)
    page = Page(study_report(study))
    assert "objective (minimize)" in _svg_texts(page.plot("history"))
    assert [p.name for p in page.plots if p.name == "metric"] == []


def test_metric_names_set_on_the_study_label_each_objective() -> None:
    study = tl.create_study(
        study_name="named", directions=["maximize", "maximize"], sampler=RandomSampler(seed=0)
    )
    study.set_metric_names(["accuracy", "neg_log_loss"])
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), -1 - t.suggest_float("y", 0, 1)), n_trials=12
    )
    pareto = Page(study_report(study)).plot("pareto")
    assert {"accuracy (maximize)", "log_loss (minimize)"} <= set(_svg_texts(pareto))
    assert min(_ticks(pareto, "y-axis")) >= 0  # log loss is shown positive


# -- ticks --


def test_integer_parameters_get_whole_number_ticks(regression: Any) -> None:
    _, page, _ = regression
    slice_ticks = _ticks(page.plot("slice", "Slice: max_depth"), "x-axis")
    parallel_ticks = _ticks(page.plot("parallel"), kind="linear")
    for ticks in (slice_ticks, parallel_ticks):
        assert len(ticks) >= 3
        assert all(v == int(v) for v in ticks), ticks


def test_log_axis_ticks_cover_the_range_and_stop_at_it(regression: Any) -> None:
    _, page, _ = regression
    slice_ticks = _ticks(page.plot("slice", "Slice: n_estimators"), "x-axis")
    parallel_ticks = _ticks(page.plot("parallel"), kind="log")
    assert slice_ticks == parallel_ticks == [10.0, 30.0, 100.0, 300.0]
    # Wide ranges keep powers of ten; ranges under a decade still get several ticks.
    assert [t.value for t in LogScale(1e-4, 1.0, 0, 1).ticks()] == [1e-4, 1e-3, 1e-2, 0.1, 1.0]
    assert len(LogScale(20, 45, 0, 1).ticks()) >= 2


def test_linear_integer_scale_never_ticks_between_whole_numbers() -> None:
    for hi in (2, 3, 4, 7, 13, 26):
        ticks = make_scale("linear", [0, hi], 0, 100, integer=True).ticks()
        assert all(t.value == int(t.value) for t in ticks), (hi, ticks)
        assert len({t.label for t in ticks}) == len(ticks)


# -- parallel coordinates --


def _chips(plot: Plot) -> list[Element]:
    return plot.find("rect", "chip")


def test_category_labels_sit_in_boxes_no_line_crosses(regression: Any) -> None:
    study, page, _ = regression
    parallel = page.plot("parallel")
    chips = _chips(parallel)
    labels = [e.text for e in parallel.find("text", "tick") if e.under("data-kind", "category")]
    assert labels == ["squared_error", "absolute_error", "mse"]
    assert len(chips) == 3
    lines = parallel.find("polyline", "trial")
    assert len(lines) == len(study.trials)
    middles = [float(c.attrs["y"]) + float(c.attrs["height"]) / 2 for c in chips]
    left = float(chips[0].attrs["x"])
    right = left + float(chips[0].attrs["width"])
    crossing = 0
    for line in lines:
        points = _points(line)
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if max(x0, x1) > left + 0.5 and min(x0, x1) < right - 0.5:
                # Only a line's own pass through its category's box, which hides it.
                assert y0 == y1 and min(abs(y0 - m) for m in middles) < 0.6, (x0, y0, x1, y1)
                crossing += 1
    assert crossing == len(lines)


def test_colour_bar_titles_are_whole(regression: Any) -> None:
    _, page, _ = regression
    titles = [e.text for p in page.plots for e in p.find("text", "colorbar-title")]
    assert "root_mean_squared_error" in titles
    assert "trial" in titles
    assert not any(t.endswith("…") for t in titles)


# -- importance --


def test_importance_from_few_trials_carries_a_visible_caveat(regression: Any) -> None:
    _, _, text = regression
    assert re.search(r'<p class="note">Computed from only 7 complete trials', text)


def test_importance_from_enough_trials_says_how_many_without_caveat() -> None:
    text = study_report(_regression_study(32))
    assert "Computed from only" not in text
    assert "fitted to the 32 complete trials" in text


def test_multi_objective_importance_and_colour_per_objective() -> None:
    study = tl.create_study(
        study_name="two", directions=["minimize", "minimize"], sampler=RandomSampler(seed=4)
    )
    study.set_metric_names(["latency", "error"])
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1) + 0.01 * t.params["x"]),
        n_trials=40,
    )
    page = Page(study_report(study))
    importance = [p for p in page.plots if p.name == "importance"]
    assert [p.attrs["aria-label"] for p in importance] == [
        "Parameter importance for latency",
        "Parameter importance for error",
    ]
    # Bars run bottom to top, least to most important: the top bar is the last category.
    tops = [
        [e.text for e in p.find("text", "tick") if e.under("class", "y-axis")][-1]
        for p in importance
    ]
    assert tops == ["x", "y"]
    parallel = [p for p in page.plots if p.name == "parallel"]
    colour_titles = [[e.text for e in p.find("text", "colorbar-title")] for p in parallel]
    assert colour_titles == [["latency"], ["error"]]


# -- interactive labels --


def test_parallel_labels_are_wrapped_to_the_room_between_axes() -> None:
    label = fit_label("learning_rate_of_the_booster (log)", 100)
    lines = label.split("<br>")
    assert 1 < len(lines) <= 3
    assert all(len(line) <= 100 / 7.2 for line in lines)
    assert "".join(lines).replace(" ", "") in "learning_rate_of_the_booster(log)"
    assert fit_label("x", 100) == "x"


def test_a_config_regression_study_reports_rmse_positive(tmp_path: Path) -> None:
    config = {
        "data": "sklearn:diabetes",
        "model": {"class": "sklearn.tree.DecisionTreeRegressor", "params": {"random_state": 0}},
        "space": {"max_depth": {"int": [1, 4]}},
        "cv": 3,
        "metrics": [_RMSE, "r2"],
        "direction": "maximize",
        "sampler": "random",
        "n_trials": 3,
        "study_name": "diabetes",
        "storage": f"sqlite:///{tmp_path / 'studies.db'}",
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    study = run_study_config(load_study_config(path), show_progress_bar=False)
    assert study.metric_names == [_RMSE]
    page = Page(study_report(study))
    assert "root_mean_squared_error (minimize)" in _svg_texts(page.plot("history"))
    assert min(_ticks(page.plot("history"), "y-axis")) > 0  # RMSE of diabetes is ~60, not -60
    assert len(page.plot("metric", "r2").find("circle", "point")) == 3


def test_category_boxes_never_overlap_on_a_crowded_axis() -> None:
    study = tl.create_study(study_name="crowded", sampler=RandomSampler(seed=0))
    choices = [f"choice_{i}" for i in range(30)]
    study.optimize(lambda t: float(len(t.suggest_categorical("c", choices))), n_trials=10)
    chips = _chips(Page(study_report(study)).plot("parallel"))
    spans = sorted(
        (float(c.attrs["y"]), float(c.attrs["y"]) + float(c.attrs["height"])) for c in chips
    )
    assert len(spans) == 30
    assert all(top >= bottom for (_, bottom), (top, _) in itertools.pairwise(spans))
