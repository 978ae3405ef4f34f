"""HTML reports: page structure, plot contents, edge cases and evaluation sections."""

from __future__ import annotations

import itertools
import math
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import tunelab as tl
from tunelab.report import (
    Section,
    evaluation_report,
    param_importances,
    render_report,
    study_report,
)
from tunelab.report._chart import Chart
from tunelab.report._curves import Ranking, calibration, precision_recall, roc
from tunelab.samplers import RandomSampler
from tunelab.space import FloatDistribution
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}
_COORD_ATTRS = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height", "points", "d")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    ancestors: list[dict[str, str]]
    text: str = ""

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def under(self, key: str, value: str) -> bool:
        return any(value in a.get(key, "").split() for a in self.ancestors)


@dataclass
class Plot:
    attrs: dict[str, str]
    elements: list[Element] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.attrs["data-plot"]

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and (cls is None or e.has_class(cls))]


class Page(HTMLParser):
    """Parses a report, checks tags are balanced and collects plots and links."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.plots: list[Plot] = []
        self.links: list[str] = []
        self.classes: list[str] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._current: Element | None = None
        self.feed(text)
        self.close()
        assert not self._stack, f"unclosed tags: {[t for t, _ in self._stack]}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.links.extend(a[k] for k in ("src", "href", "xlink:href") if k in a)
        self.classes.extend(a.get("class", "").split())
        if tag == "svg":
            self.plots.append(Plot(a))
        elif self.plots and any(t == "svg" for t, _ in self._stack):
            self._current = Element(tag, a, [x for _, x in self._stack])
            self.plots[-1].elements.append(self._current)
        if tag not in _VOID:
            self._stack.append((tag, a))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        assert self._stack and self._stack[-1][0] == tag, f"unexpected </{tag}>"
        self._stack.pop()
        if tag == "svg":
            self._current = None  # text after a plot is the page's, not its last element's

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.text += data

    def plot_names(self) -> list[str]:
        return [p.name for p in self.plots]

    def plot(self, name: str, label: str | None = None) -> Plot:
        found = [
            p
            for p in self.plots
            if p.name == name and (label is None or p.attrs["aria-label"] == label)
        ]
        assert len(found) == 1, f"expected one {name!r} plot, found {len(found)}"
        return found[0]


def _points(element: Element) -> list[tuple[float, float]]:
    pairs = element.attrs["points"].split()
    return [(float(x), float(y)) for x, y in (p.split(",") for p in pairs)]


def assert_self_contained(text: str) -> None:
    page = Page(text)
    for link in page.links:
        assert not re.match(r"(?i)(https?:)?//", link), f"external link {link!r}"
    assert not re.search(r"(?i)url\(\s*['\"]?(https?:)?//", text)
    assert "@import" not in text
    assert "<script" not in text.lower()
    for svg in re.findall(r"<svg\b.*?</svg>", text, flags=re.S):
        ET.fromstring(svg)  # every plot is well-formed XML too (savable as .svg)


def assert_no_bad_coordinates(text: str) -> None:
    pattern = r'\b(?:{})="[^"]*(?:nan|inf)'.format("|".join(_COORD_ATTRS))
    assert not re.search(pattern, text, flags=re.I)


# -- studies --


def _known_study() -> tl.Study:
    """12 trials: 9 complete, 1 pruned with a value, 1 pruned without, 1 failed."""
    study = tl.create_study(study_name="known", sampler=RandomSampler(seed=1))
    for i in range(12):
        trial = study.ask()
        x = trial.suggest_float("x", -5, 5)
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_categorical("kind", ["a", "b", "c"])
        if i == 3:
            trial.report(50.0, 0)
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 6:
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 9:
            study.tell(trial, state=TrialState.FAIL, fail_reason="out of memory")
        else:
            study.tell(trial, (x - 1) ** 2 + lr)
    return study


@pytest.fixture(scope="module")
def known() -> tuple[tl.Study, Page, str]:
    study = _known_study()
    text = study_report(study)
    return study, Page(text), text


def test_study_report_has_one_svg_per_plot_and_no_external_resources(known: Any) -> None:
    study, page, text = known
    assert page.plot_names() == [
        "history",
        "learning-curves",
        "importance",
        "parallel",
        "slice",
        "slice",
        "slice",
    ]
    assert_self_contained(text)
    assert "known" in text and "minimize" in text
    assert "complete 9, pruned 2, fail 1" in text
    assert f"trial #{study.best_trial.number}" in text


def test_history_marks_each_trial_and_best_so_far_never_worsens(known: Any) -> None:
    _, page, _ = known
    history = page.plot("history")
    assert len(history.find("circle", "point")) == 9
    assert len(history.find("path", "pruned")) == 1  # pruned at its reported value
    assert len(history.find("path", "rug")) == 1  # pruned before reporting
    assert len(history.find("path", "failed")) == 1
    assert "out of memory" in "".join(e.text for e in history.find("title"))
    (best,) = history.find("polyline", "best")
    ys = [y for _, y in _points(best)]
    assert len(ys) == 2 * 9 - 1  # a staircase through 9 trials
    # Minimising: the best value only goes down, i.e. pixel y only goes up.
    assert all(b >= a for a, b in itertools.pairwise(ys))
    assert ys[-1] == max(ys)


def test_parallel_coordinates_draw_one_line_per_complete_trial(known: Any) -> None:
    _, page, _ = known
    parallel = page.plot("parallel")
    lines = parallel.find("polyline", "trial")
    assert len(lines) == 9
    # x, lr, objective, and kind twice: a line enters and leaves a category's label box.
    assert all(len(_points(line)) == 5 for line in lines)
    category_ticks = [
        e.text for e in parallel.find("text", "tick") if e.under("data-kind", "category")
    ]
    assert category_ticks == ["a", "b", "c"]


def _is_power_of_ten(value: float) -> bool:
    exponent = math.log10(value)
    return math.isclose(exponent, round(exponent), abs_tol=1e-9)


def test_log_axes_tick_at_powers_of_ten(known: Any) -> None:
    _, page, _ = known
    log_ticks = [
        float(e.attrs["data-value"])
        for e in page.plot("parallel").find("text", "tick")
        if e.under("data-kind", "log")
    ]
    slice_ticks = [
        float(e.attrs["data-value"])
        for e in page.plot("slice", "Slice: lr").find("text", "tick")
        if e.under("class", "x-axis")
    ]
    for ticks in (log_ticks, slice_ticks):
        assert len(ticks) >= 2
        assert all(_is_power_of_ten(v) for v in ticks), ticks
        assert min(ticks) <= 1e-4 and max(ticks) >= 1.0  # cover the distribution's bounds


def test_slices_show_every_complete_trial(known: Any) -> None:
    _, page, _ = known
    slices = [p for p in page.plots if p.name == "slice"]
    assert [p.attrs["aria-label"] for p in slices] == ["Slice: x", "Slice: lr", "Slice: kind"]
    assert all(len(p.find("circle", "point")) == 9 for p in slices)


def test_best_trials_table_is_sorted_by_value(known: Any) -> None:
    study, _, text = known
    table = text.split('id="best-trials"')[1]
    numbers = [int(n) for n in re.findall(r"<td>#(\d+)</td>", table)]
    done = sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.value)
    assert numbers == [t.number for t in done[: len(numbers)]]
    assert len(numbers) == 9


def test_empty_study_renders_with_a_note() -> None:
    study = tl.create_study(study_name="empty")
    text = study_report(study)
    page = Page(text)
    assert page.plot_names() == ["history"]
    history = page.plot("history")
    assert history.find("circle", "point") == []
    assert history.find("g", "legend") == []  # no entries for series without data
    assert "No trial has completed yet" in text
    assert_no_bad_coordinates(text)


def test_single_trial_study_renders_every_plot_it_can() -> None:
    study = tl.create_study(study_name="one")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=1)
    text = study_report(study)
    page = Page(text)
    assert page.plot_names() == ["history", "parallel", "slice"]
    assert len(page.plot("parallel").find("polyline", "trial")) == 1
    assert "Only one trial has completed" in text
    assert "Importance needs at least 3 complete trials" in text
    assert_no_bad_coordinates(text)


class _FakeStudy:
    """A study whose stored values include what tell() would refuse (old or foreign data)."""

    study_name = "odd<values>"
    directions = (StudyDirection.MINIMIZE,)

    def __init__(self) -> None:
        dist = FloatDistribution(1e-3, 10.0, log=True)
        values = [1.0, math.inf, 2.0, -math.inf, 0.5, 3.0]
        self._trials = [
            FrozenTrial(
                number=i,
                trial_id=i,
                state=TrialState.COMPLETE,
                values=[v],
                params={"c": 0.01 * (i + 1)},
                distributions={"c": dist},
            )
            for i, v in enumerate(values)
        ]
        self._trials.append(
            FrozenTrial(
                number=6,
                trial_id=6,
                state=TrialState.PRUNED,
                values=[math.nan],
                params={"c": 1.0},
                distributions={"c": dist},
            )
        )

    def get_trials(self, deepcopy: bool = True) -> list[FrozenTrial]:
        # Study's signature: the report asks for the shared snapshots (deepcopy=False).
        return self._trials


def test_infinite_and_nan_values_never_reach_svg_coordinates() -> None:
    text = study_report(_FakeStudy())
    assert_no_bad_coordinates(text)
    page = Page(text)
    assert len(page.plot("history").find("circle", "point")) == 4  # the finite ones
    assert "odd&lt;values&gt;" in text


def test_chart_drops_unplottable_points_and_breaks_lines() -> None:
    chart = Chart(name="t", title="t", y_scale="log")
    chart.line([0, 1, 2, 3, 4, 5], [1.0, 10.0, math.nan, 100.0, -1.0, math.inf], color="#000")
    chart.points([0, 1, 2, 3], [math.inf, 0.0, 5.0, math.nan])
    svg = chart.to_svg()
    assert_no_bad_coordinates(svg)
    page = Page(svg)
    assert len(page.plots[0].find("polyline")) == 1  # only [1, 10] is a segment of 2+ points
    assert len(page.plots[0].find("circle")) == 1


def test_chart_rejects_unknown_scale() -> None:
    with pytest.raises(ValueError, match="x_scale must be one of"):
        Chart(name="t", title="t", x_scale="symlog")


def test_multi_objective_study_shows_pareto_front_instead_of_history() -> None:
    study = tl.create_study(
        directions=["minimize", "maximize"], sampler=RandomSampler(seed=3), study_name="mo"
    )
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1) - t.params["x"] ** 2),
        n_trials=30,
    )
    text = study_report(study)
    page = Page(text)
    assert page.plot_names()[:3] == ["pareto", "hypervolume", "importance"]
    pareto = page.plot("pareto")
    assert len(pareto.find("circle", "front")) == len(study.best_trials)
    assert len(pareto.find("circle", "dominated")) == 30 - len(study.best_trials)
    assert f"Pareto-optimal trials</dt><dd>{len(study.best_trials)}" in text
    # One slice per parameter and objective, each on its objective's axis.
    labels = [p.attrs["aria-label"] for p in page.plots if p.name == "slice"]
    assert labels == [f"Slice: {n} (objective {i})" for i in (0, 1) for n in ("x", "y")]
    for i in (0, 1):
        axis = [e.text for e in page.plot("slice", f"Slice: x (objective {i})").find("text")]
        assert f"objective {i} ({study.directions[i].name.lower()})" in axis


def test_study_report_writes_file_and_stays_small(tmp_path: Path) -> None:
    study = tl.create_study(sampler=RandomSampler(seed=0), study_name="big")

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_int("n", 1, 500, log=True)
        trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
        trial.suggest_float("dropout", 0.0, 0.5)
        return x**2

    study.optimize(objective, n_trials=200)
    path = tmp_path / "report.html"
    text = study_report(study, path)
    assert path.read_text(encoding="utf-8") == text
    assert path.stat().st_size < 1_500_000
    assert len(Page(text).plot("parallel").find("polyline", "trial")) == 200


def test_interactive_without_plotly_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(ImportError, match=r"pip install 'tunelab\[report\]'"):
        study_report(tl.create_study(), interactive=True)


def test_interactive_report_embeds_plotly_once() -> None:
    pytest.importorskip("plotly")
    text = study_report(_known_study(), interactive=True)
    assert "plotly-graph-div" in text and '<svg class="plot"' not in text
    assert text.count("Plotly.newPlot") >= 3


# -- importance --


def _noise_study(n_trials: int = 60) -> tl.Study:
    study = tl.create_study(sampler=RandomSampler(seed=7))

    def objective(trial: tl.Trial) -> float:
        # x in the middle, so favouring the first or last parameter cannot pass.
        trial.suggest_float("noise_a", 0, 1)
        trial.suggest_float("noise_b", 1e-3, 1e3, log=True)
        x = trial.suggest_float("x", -3, 3)
        trial.suggest_categorical("noise_c", ["p", "q", "r"])
        return x**2

    study.optimize(objective, n_trials=n_trials)
    return study


def test_importance_ranks_the_only_relevant_parameter_first() -> None:
    importances = param_importances(_noise_study(), seed=0)
    assert next(iter(importances)) == "x"
    assert importances["x"] > 0.8
    assert all(importances["x"] > 10 * v for k, v in importances.items() if k != "x")
    assert math.isclose(sum(importances.values()), 1.0)


def test_importance_is_deterministic_for_a_seed() -> None:
    study = _noise_study(30)
    assert param_importances(study, seed=4) == param_importances(study, seed=4)


def test_importance_explains_why_it_cannot_run() -> None:
    study = tl.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with pytest.raises(ValueError, match="at least 3 complete trials"):
        param_importances(study)
    flat = tl.create_study()
    flat.optimize(lambda t: t.suggest_float("x", 0, 1) * 0, n_trials=5)
    with pytest.raises(ValueError, match="all equal"):
        param_importances(flat)


# -- evaluation --


def _binary_folds(n_folds: int = 3, n: int = 150) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    folds = []
    for _ in range(n_folds):
        y = rng.integers(0, 2, n)
        p = np.clip(0.6 * y + rng.normal(0.2, 0.25, n), 0, 1).round(2)  # rounding makes ties
        folds.append({"y_true": y, "y_pred": (p > 0.5).astype(int), "y_score": np.c_[1 - p, p]})
    return folds


def test_curves_match_scikit_learn_with_ties() -> None:
    for fold in _binary_folds():
        y, p = fold["y_true"], fold["y_score"][:, 1]
        ranking = Ranking.of(y == 1, p)
        assert math.isclose(roc(ranking).area, roc_auc_score(y, p), rel_tol=1e-12)
        assert math.isclose(precision_recall(ranking).area, average_precision_score(y, p))


def test_calibration_bins_average_probabilities_and_outcomes() -> None:
    prob = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    hit = np.array([False, True, False, True, True])
    bins = calibration(hit, prob)
    assert bins.counts.tolist() == [1, 2, 2]
    assert np.allclose(bins.predicted, [0.05, 0.135, 0.975])
    assert np.allclose(bins.observed, [0.0, 0.5, 1.0])


def test_binary_evaluation_report() -> None:
    folds = _binary_folds()
    metrics = [("roc_auc", 0.9, 0.01, 0.88, 0.92), ("f1", 0.8, None, None, None)]
    text = evaluation_report(title="Binary", metrics=metrics, task="classification", folds=folds)
    assert_self_contained(text)
    page = Page(text)
    assert page.plot_names() == ["confusion", "roc", "pr", "calibration"]
    counts = [int(e.text) for e in page.plot("confusion").find("text", "count")]
    expected = sum(np.bincount(2 * f["y_true"] + f["y_pred"], minlength=4) for f in folds).tolist()
    assert counts == expected
    roc_plot = page.plot("roc")
    assert len(roc_plot.find("polyline", "curve")) == 3
    aucs = [roc_auc_score(f["y_true"], f["y_score"][:, 1]) for f in folds]
    legend = " ".join(e.text for e in roc_plot.find("text"))
    assert all(f"AUC {auc:.3f}" in legend for auc in aucs)
    assert len(page.plot("pr").find("polyline", "curve")) == 3
    assert 1 <= len(page.plot("calibration").find("circle", "bin")) <= 10
    assert "[0.88, 0.92]" in text and "roc_auc" in text


def test_binary_scores_may_be_one_column_of_positive_probabilities() -> None:
    folds = [{**f, "y_score": f["y_score"][:, 1]} for f in _binary_folds(2)]
    page = Page(evaluation_report(title="b", metrics=[], task="classification", folds=folds))
    assert len(page.plot("roc").find("polyline", "curve")) == 2


def test_multiclass_evaluation_report_is_one_vs_rest_per_class() -> None:
    rng = np.random.default_rng(1)
    names = np.array(["cat", "dog", "emu"])
    folds = []
    for _ in range(2):
        y = rng.integers(0, 3, 120)
        score = rng.dirichlet([1, 1, 1], 120)
        score[np.arange(120), y] += 1.0
        score /= score.sum(axis=1, keepdims=True)
        folds.append({"y_true": names[y], "y_pred": names[score.argmax(1)], "y_score": score})
    text = evaluation_report(title="Multi", metrics=[], task="classification", folds=folds)
    page = Page(text)
    assert page.plot_names() == ["confusion", "roc", "roc", "roc", "pr", "pr", "pr", "calibration"]
    assert len(page.plot("confusion").find("rect", "cell")) == 9
    roc_dog = page.plot("roc", "ROC: dog vs rest")
    assert len(roc_dog.find("polyline", "curve")) == 2
    expected = roc_auc_score(folds[0]["y_true"] == "dog", folds[0]["y_score"][:, 1])
    assert f"AUC {expected:.3f}" in " ".join(e.text for e in roc_dog.find("text"))


def test_classification_without_scores_notes_the_missing_plots() -> None:
    folds = [{"y_true": [0, 1, 1], "y_pred": [0, 1, 0], "y_score": None}]
    text = evaluation_report(title="t", metrics=[], task="classification", folds=folds)
    assert Page(text).plot_names() == ["confusion"]
    assert "No fold has y_score" in text


def test_regression_evaluation_report_skips_non_finite_points() -> None:
    rng = np.random.default_rng(2)
    folds = []
    for _ in range(3):
        y = rng.normal(10, 3, 50)
        folds.append({"y_true": y, "y_pred": y + rng.normal(0, 1, 50)})
    folds[0]["y_pred"][:2] = [math.nan, math.inf]
    text = evaluation_report(
        title="Reg", metrics=[("r2", 0.9, 0.01, 0.88, 0.92)], task="regression", folds=folds
    )
    assert_self_contained(text)
    assert_no_bad_coordinates(text)
    page = Page(text)
    assert page.plot_names() == ["residuals", "predicted-vs-true"]
    assert len(page.plot("residuals").find("circle", "point")) == 148
    assert len(page.plot("predicted-vs-true").find("circle", "point")) == 148
    assert "2 point(s) with NaN or infinite values" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "clustering"}, "task must be one of"),
        ({"folds": []}, "at least one fold"),
        ({"folds": [{"y_true": [0, 1]}]}, r"folds\[0\] has no 'y_pred'"),
        ({"folds": [{"y_true": [0, 1], "y_pred": [0]}]}, "equal length"),
        ({"metrics": [("acc", 0.5)]}, r"metrics\[0\] must be"),
        (
            {"folds": [{"y_true": [0, 1], "y_pred": [0, 1], "y_score": np.ones((2, 3))}]},
            "3 columns but there are 2 labels",
        ),
        ({"labels": [0, 1], "folds": [{"y_true": [0, 2], "y_pred": [0, 1]}]}, "contains 2"),
    ],
)
def test_evaluation_report_validates_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "title": "t",
        "metrics": [],
        "task": "classification",
        "folds": [{"y_true": [0, 1], "y_pred": [0, 1]}],
    }
    with pytest.raises(ValueError, match=message):
        evaluation_report(**{**args, **kwargs})


# -- layout --


def test_render_report_escapes_titles_and_links_sections() -> None:
    text = render_report(
        [Section("Intro", "<p>hello</p>"), ("Intro", "<p>again</p>")], "<b>Title</b>"
    )
    assert_self_contained(text)
    assert "<title>&lt;b&gt;Title&lt;/b&gt;</title>" in text
    assert 'href="#intro"' in text and 'href="#intro-2"' in text
    assert '<section id="intro-2"><h2>Intro</h2><p>again</p></section>' in text
    assert "@media print" in text


# -- learning curves ---------------------------------------------------------------------------


def _curved_study(pruner: tl.pruners.BasePruner, steps: list[int]) -> tl.Study:
    """Trials reporting a decaying curve at ``steps``; the pruner stops the worse ones."""
    study = tl.create_study(sampler=RandomSampler(seed=0), pruner=pruner)

    def objective(trial: tl.Trial) -> float:
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for step in steps:
            value = 1.0 / (1.0 + rate * step)
            trial.report(value, step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return value

    study.optimize(objective, n_trials=14)
    return study


def test_learning_curves_show_each_trial_rungs_and_where_pruned_ones_stopped() -> None:
    steps = list(range(1, 101))
    study = _curved_study(
        tl.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3), steps
    )
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete
    page = Page(study_report(study))
    curves = page.plot("learning-curves")
    lines = curves.find("polyline", "curve")
    multi_step = [t for t in trials if len(t.intermediate_values) > 1]
    assert len(lines) == len(multi_step)
    assert len(curves.find("polyline", "pruned")) == sum(
        len(t.intermediate_values) > 1 for t in pruned
    )
    assert len(curves.find("polyline", "complete")) == len(complete)
    assert len(curves.find("path", "pruned-end")) == len(pruned)
    tips = "".join(e.text for e in curves.find("title"))
    for t in pruned:
        assert f"trial #{t.number} pruned at step {t.last_step}" in tips
    # Rungs of successive halving with r=1, eta=3, up to step 100.
    assert len(curves.find("polyline", "rung")) == 5
    # Steps 1..100 span two decades: a log x axis, ticked at powers of ten.
    labels = [e.text for e in curves.find("text")]
    assert "step (log)" in labels
    assert_self_contained(study_report(study))


def test_learning_curves_have_no_rungs_without_a_rung_pruner_and_linear_steps() -> None:
    study = _curved_study(tl.pruners.MedianPruner(n_startup_trials=2), list(range(10)))
    curves = Page(study_report(study)).plot("learning-curves")
    assert not curves.find("polyline", "rung")
    assert "step" in [e.text for e in curves.find("text")]
    assert len(curves.find("path", "pruned-end")) == sum(
        t.state == TrialState.PRUNED for t in study.get_trials()
    )


def test_no_learning_curves_without_intermediate_values() -> None:
    study = tl.create_study(sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert "learning-curves" not in Page(study_report(study)).plot_names()


def test_single_report_trials_are_dots_on_the_curves() -> None:
    study = tl.create_study(pruner=tl.pruners.NopPruner())
    for value in (0.3, 0.5):
        trial = study.ask()
        trial.report(value, 5)
        study.tell(trial, value)
    curves = Page(study_report(study)).plot("learning-curves")
    assert not curves.find("polyline", "curve")
    assert len(curves.find("circle", "curve-dot")) == 2


def _tips(plot: Plot, css: str) -> list[str]:
    return [e.text for e in plot.find("title") if e.under("class", css)]


def test_rungs_and_promotions_come_from_the_pruner_stored_with_the_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = tl.create_study(
        study_name="asha",
        storage=url,
        sampler=RandomSampler(seed=0),
        pruner=tl.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    )

    def objective(trial: tl.Trial) -> float:
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for step in range(1, 31):
            trial.report(1.0 / (1.0 + rate * step), step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return 1.0 / (1.0 + rate * 30)

    study.optimize(objective, n_trials=12)
    # Opened the way `tunelab report` opens it: no pruner given.
    text = study_report(tl.load_study(study_name="asha", storage=url))
    curves = Page(text).plot("learning-curves")
    assert len(curves.find("polyline", "rung")) == 4  # steps 1, 3, 9, 27
    promoted = _tips(curves, "promoted")
    demoted = _tips(curves, "demoted")
    expected_promoted, expected_demoted = [], []
    for t in study.trials:
        for rung in (1, 3, 9, 27):
            if t.last_step is not None and t.last_step >= rung:
                stopped = t.state == TrialState.PRUNED and t.last_step == rung
                (expected_demoted if stopped else expected_promoted).append(
                    f"trial #{t.number} {'pruned at' if stopped else 'promoted past'} "
                    f"the rung at step {rung}"
                )
    assert expected_promoted and expected_demoted
    assert [p.split(" (")[0] for p in promoted] == expected_promoted
    assert [d.split(" (")[0] for d in demoted] == expected_demoted
    assert "SuccessiveHalvingPruner (reduction factor 3) judges at rungs: steps 1, 3, 9, 27" in text


def test_a_warm_up_pruner_draws_its_warm_up_step_and_no_rungs() -> None:
    study = _curved_study(tl.pruners.MedianPruner(n_warmup_steps=4), list(range(10)))
    text = study_report(study)
    curves = Page(text).plot("learning-curves")
    assert not curves.find("polyline", "rung") and not curves.find("circle", "promoted")
    assert len(curves.find("polyline", "warmup")) == 1
    assert "MedianPruner prunes no trial before step 4" in text


def test_hypervolume_over_time_infeasible_trials_and_the_picked_trial() -> None:
    study = tl.create_study(directions=["minimize", "minimize"], study_name="hv")
    dist = {"x": FloatDistribution(0, 10)}
    # (4, 4) leads the front until (1, 3) comes; the final front is (1, 3), (2, 2),
    # (3, 1); (2.5, 2.5) is dominated; (0.5, 0.5) broke a constraint and must count
    # neither on the front nor in the hypervolume.
    rows = [(4, 4, 0), (1, 3, -1), (2, 2, 0), (3, 1, -2), (2.5, 2.5, 0), (0.5, 0.5, 1)]
    for i, (a, b, c) in enumerate(rows):
        study.add_trial(
            tl.create_trial(
                values=[a, b],
                params={"x": float(i)},
                distributions=dist,
                system_attrs={"constraints": [c]},
            )
        )
    study.set_user_attr(
        "picked_trial", {"number": 2, "model": "clf", "version": 2, "rule": "a<3", "by": "b"}
    )
    text = study_report(study)
    page = Page(text)
    pareto = page.plot("pareto")
    assert len(pareto.find("circle", "front")) == 3
    assert len(pareto.find("path", "infeasible")) == 1
    assert len(pareto.find("circle", "picked")) == 1
    assert "picked: trial #2 (clf v2)" in [e.text for e in pareto.find("text")]
    # Reference: the worst of the points ever on the front, (4, 4), plus a tenth of their
    # range (3, 3): (4.3, 4.3). Areas by hand: 0.3 * 0.3; then 3.3 * 1.3 alone; (2, 2)
    # adds 2.3 * 2.3 less its overlap 2.3 * 1.3; (3, 1) adds 1.3 * 3.3 less 1.3 * 2.3;
    # the dominated (2.5, 2.5) adds nothing.
    tips = _tips(page.plot("hypervolume"), "hypervolume-point")
    assert [t.split(": ")[0] for t in tips] == [f"after trial #{n}" for n in range(5)]
    got = [float(t.split(": ")[1]) for t in tips]
    assert got == pytest.approx([0.09, 4.29, 6.59, 7.89, 7.89])
    assert "Reference point: objective 0 = 4.3, objective 1 = 4.3" in text
    assert "registered as clf v2 (rule: a&lt;3; best by b)" in text
