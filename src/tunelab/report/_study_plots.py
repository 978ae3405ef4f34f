"""The plots of a study report, built from trials: history, Pareto front, importance,
parallel coordinates and slices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.importance._params import ParamSpec
from tunelab.report import _svg as svg
from tunelab.report._chart import FULL_WIDTH, HALF_WIDTH, THIRD_WIDTH, Chart
from tunelab.report._metrics import Measure
from tunelab.report._parallel import ParallelAxis, ParallelCoordinates
from tunelab.trial import FrozenTrial, StudyDirection, TrialState, feasible_trials
from tunelab.visualization._front import HypervolumeHistory

# A positive objective spanning this many times its smallest value gets a log axis.
_LOG_SPAN = 1e3
_JITTER = 0.15


@dataclass(frozen=True)
class StudyData:
    """What the report needs from a study, read once.

    Attributes:
        name: Study name.
        directions: Direction of each objective.
        trials: All trials, by number.
        complete: COMPLETE trials whose every objective value is finite.
        specs: Every parameter seen, in first-seen order.
        measures: What each objective measures (name, sign, natural direction).
        others: Further metrics the trials recorded, by user attribute name.
        picked: The study's ``picked_trial`` attribute: the trial registered from
            the Pareto front (``{"number": n, "model": ..., ...}``), if any.
    """

    name: str
    directions: tuple[StudyDirection, ...]
    trials: tuple[FrozenTrial, ...]
    complete: tuple[FrozenTrial, ...]
    specs: tuple[ParamSpec, ...]
    measures: tuple[Measure, ...]
    others: dict[str, Measure]
    picked: dict[str, Any] | None = None

    @property
    def multi(self) -> bool:
        """Whether the study has several objectives."""
        return len(self.directions) > 1

    @property
    def feasible(self) -> tuple[FrozenTrial, ...]:
        """The complete trials that met their stored constraints (all, if none stored).

        As in :attr:`tunelab.Study.best_trials`: once some trial stored constraints, a
        trial without them does not count as feasible.
        """
        return tuple(feasible_trials(self.complete))

    @property
    def picked_number(self) -> int | None:
        """The number of the picked trial, when one is recorded."""
        number = (self.picked or {}).get("number")
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    def objective_label(self, index: int) -> str:
        """Axis title of objective ``index``: its metric's name and direction."""
        return self.measures[index].label(index if self.multi else None)

    def objective_name(self, index: int) -> str:
        """Short name of objective ``index`` (no direction)."""
        return self.measures[index].short(index if self.multi else None)

    def value(self, trial: FrozenTrial, index: int = 0) -> float:
        """Objective ``index`` of a trial that has values, with the metric's natural sign."""
        assert trial.values is not None
        return self.measures[index].natural(float(trial.values[index]))

    def is_better(self, a: float, b: float, index: int = 0) -> bool:
        """Whether natural value ``a`` beats ``b`` on objective ``index``."""
        if self.measures[index].direction == StudyDirection.MAXIMIZE:
            return a > b
        return a < b


def fmt(value: float) -> str:
    """A compact, exact-enough rendering of a number for labels and tables."""
    return f"{value:.6g}" if math.isfinite(value) else str(value)


def fmt_param(value: object) -> str:
    """A parameter value as text: floats to 6 significant digits, others as they print."""
    return fmt(value) if isinstance(value, float) else str(value)


def trial_tooltip(data: StudyData, trial: FrozenTrial) -> str:
    """Hover text of a trial: number, values and parameters."""
    lines = [f"trial #{trial.number} ({trial.state.name.lower()})"]
    if trial.values is not None:
        lines.extend(
            f"{data.objective_name(i)}: {fmt(data.value(trial, i))}"
            for i in range(len(trial.values))
        )
    lines.extend(f"{k} = {fmt_param(v)}" for k, v in trial.params.items())
    return "\n".join(lines)


def _value_scale(values: Sequence[float]) -> str:
    good = [v for v in values if math.isfinite(v)]
    if good and min(good) > 0 and max(good) / min(good) >= _LOG_SPAN:
        return "log"
    return "linear"


def history_chart(data: StudyData) -> Chart:
    """Objective of each trial by number, the best-so-far line, pruned and failed marks."""
    done = data.complete
    values = [data.value(t) for t in done]
    pruned = [
        t
        for t in data.trials
        if t.state == TrialState.PRUNED and t.values and math.isfinite(t.values[0])
    ]
    chart = Chart(
        name="history",
        title="Optimisation history",
        x_label="trial number",
        y_label=data.objective_label(0),
        y_scale=_value_scale(values + [data.value(t) for t in pruned]),
        width=FULL_WIDTH,
    )
    tips = [trial_tooltip(data, t) for t in done]
    chart.points([t.number for t in done], values, label="complete", tooltips=tips)
    if pruned:
        chart.points(
            [t.number for t in pruned],
            [data.value(t) for t in pruned],
            color=svg.MUTED,
            label="pruned (last reported value)",
            tooltips=[trial_tooltip(data, t) for t in pruned],
            css="pruned",
            marker="cross",
        )
    best = _best_so_far(data, values)
    chart.line(
        [t.number for t in done],
        best,
        color=svg.PALETTE[2],
        label="best so far",
        css="best",
        width=2,
        step=True,
    )
    _rugs(chart, data, pruned)
    return chart


def _best_so_far(data: StudyData, values: Sequence[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out or data.is_better(v, out[-1]) else out[-1])
    return out


def _rugs(chart: Chart, data: StudyData, pruned_with_value: Sequence[FrozenTrial]) -> None:
    shown = {t.number for t in pruned_with_value}
    pruned = [t for t in data.trials if t.state == TrialState.PRUNED and t.number not in shown]
    failed = [t for t in data.trials if t.state == TrialState.FAIL]
    if pruned:
        tips = [f"trial #{t.number} pruned before reporting a value" for t in pruned]
        chart.rug([t.number for t in pruned], color=svg.MUTED, label="pruned", tooltips=tips)
    if failed:
        tips = [
            f"trial #{t.number} failed: {t.fail_reason or 'no reason recorded'}" for t in failed
        ]
        chart.rug(
            [t.number for t in failed],
            color=svg.FAIL_RED,
            label="failed",
            tooltips=tips,
            css="failed",
        )


def pareto_chart(data: StudyData, front: Sequence[FrozenTrial]) -> Chart:
    """The first two objectives of every complete trial: the Pareto front of the feasible
    ones highlighted, infeasible ones apart, and the picked trial ringed."""
    on_front = {t.number for t in front}
    rest = [t for t in data.feasible if t.number not in on_front]
    feasible = {t.number for t in data.feasible}
    infeasible = [t for t in data.complete if t.number not in feasible]
    chart = Chart(
        name="pareto",
        title="Pareto front",
        x_label=data.objective_label(0),
        y_label=data.objective_label(1),
        width=640,
        height=420,
    )
    chart.points(
        [data.value(t, 0) for t in rest],
        [data.value(t, 1) for t in rest],
        color=svg.MUTED,
        label="dominated",
        tooltips=[trial_tooltip(data, t) for t in rest],
        css="dominated",
    )
    if infeasible:
        chart.points(
            [data.value(t, 0) for t in infeasible],
            [data.value(t, 1) for t in infeasible],
            color=svg.FAIL_RED,
            label="infeasible",
            tooltips=[trial_tooltip(data, t) for t in infeasible],
            css="infeasible",
            marker="cross",
        )
    ordered = sorted(front, key=lambda t: (data.value(t, 0), data.value(t, 1)))
    if len(data.directions) == 2 and len(ordered) > 1:
        chart.line(
            [data.value(t, 0) for t in ordered],
            [data.value(t, 1) for t in ordered],
            color=svg.PALETTE[2],
            css="front-line",
            dash="4 3",
        )
    picked = [t for t in data.complete if t.number == data.picked_number]
    if picked:
        what = data.picked or {}
        name = f" ({what['model']} v{what.get('version', '?')})" if what.get("model") else ""
        chart.points(
            [data.value(picked[0], 0)],
            [data.value(picked[0], 1)],
            color=svg.PALETTE[1],
            label=f"picked: trial #{picked[0].number}{name}",
            tooltips=["picked and registered\n" + trial_tooltip(data, picked[0])],
            css="picked",
            radius=8.0,
        )
    chart.points(
        [data.value(t, 0) for t in ordered],
        [data.value(t, 1) for t in ordered],
        color=svg.PALETTE[2],
        label="Pareto-optimal",
        tooltips=[trial_tooltip(data, t) for t in ordered],
        css="front",
        radius=4.5,
    )
    return chart


def hypervolume_chart(data: StudyData, history: HypervolumeHistory) -> Chart:
    """The dominated hypervolume of the feasible front after each complete trial."""
    chart = Chart(
        name="hypervolume",
        title="Hypervolume over time",
        x_label="trial number",
        y_label="dominated hypervolume",
        width=480,
        height=420,
    )
    numbers = [float(n) for n in history.numbers]
    volumes = [float(v) for v in history.volumes]
    chart.line(numbers, volumes, color=svg.PALETTE[2], css="hypervolume", width=2, step=True)
    chart.points(
        numbers,
        volumes,
        color=svg.PALETTE[2],
        tooltips=[
            f"after trial #{int(n)}: {fmt(v)}" for n, v in zip(numbers, volumes, strict=True)
        ],
        css="hypervolume-point",
        radius=2.0,
    )
    return chart


def importance_chart(importances: dict[str, float], data: StudyData, index: int = 0) -> Chart:
    """Horizontal bars, most important parameter on top, for objective ``index``."""
    names = list(importances)[::-1]
    shares = [importances[n] for n in names]
    title = "Parameter importance"
    if data.multi:
        title += f" for {data.objective_name(index)}"
    chart = Chart(
        name="importance",
        title=title,
        x_label="share of explained variance",
        y_scale="category",
        y_categories=names,
        height=max(200.0, 80 + 26 * len(names)),
        width=HALF_WIDTH if data.multi else FULL_WIDTH,
    )
    chart.bars(shares, tooltips=[f"{n}: {s:.3f}" for n, s in zip(names, shares, strict=True)])
    return chart


def metric_chart(data: StudyData, stored: str, measure: Measure) -> Chart:
    """A recorded (not optimised) metric of each complete trial, by trial number."""
    done = [t for t in data.complete if _is_number(t.user_attrs.get(stored))]
    values = [measure.natural(float(t.user_attrs[stored])) for t in done]
    chart = Chart(
        name="metric",
        title=measure.short(),
        x_label="trial number",
        y_label=measure.label(),
        y_scale=_value_scale(values),
        width=HALF_WIDTH,
        height=300,
    )
    tips = [
        f"trial #{t.number}\n{measure.short()}: {fmt(v)}" for t, v in zip(done, values, strict=True)
    ]
    chart.points([t.number for t in done], values, color=svg.PALETTE[1], tooltips=tips)
    return chart


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parallel_plot(data: StudyData, index: int = 0) -> ParallelCoordinates:
    """One axis per parameter and per objective; one polyline per complete trial.

    Lines are coloured by objective ``index`` (one plot per objective in a
    multi-objective report).
    """
    done = data.complete
    axes = [
        ParallelAxis(
            name=spec.name,
            kind=spec.kind,
            values=tuple(
                spec.position(t.params[spec.name]) if spec.name in t.params else math.nan
                for t in done
            ),
            categories=spec.labels,
            bounds=spec.bounds,
            integer=spec.integer,
        )
        for spec in data.specs
    ]
    for i in range(len(data.directions)):
        objective = tuple(data.value(t, i) for t in done)
        axes.append(ParallelAxis(data.objective_name(i), _value_scale(objective), objective))
    values = tuple(data.value(t, index) for t in done)
    name = data.objective_name(index)
    scale = _value_scale(values)
    # Objectives spanning decades are coloured by their log, or nearly all lines look alike.
    colors = [math.log10(v) for v in values] if scale == "log" else list(values)
    title = "Parallel coordinates" + (f", coloured by {name}" if data.multi else "")
    return ParallelCoordinates(
        name="parallel",
        title=title,
        axes=axes,
        color_values=colors,
        color_label=f"log10 {name}" if scale == "log" else name,
        tooltips=[trial_tooltip(data, t) for t in done],
        best_high=data.measures[index].direction == StudyDirection.MAXIMIZE,
    )


def slice_chart(data: StudyData, spec: ParamSpec, index: int, objective: int = 0) -> Chart:
    """Objective ``objective`` against one parameter, points coloured by trial number."""
    done = [t for t in data.complete if spec.name in t.params]
    xs = [spec.position(t.params[spec.name]) for t in done]
    if spec.kind == "category":
        # Spread points of one choice sideways so they do not hide each other.
        rng = np.random.default_rng(index)
        xs = [
            x + float(j) for x, j in zip(xs, rng.uniform(-_JITTER, _JITTER, len(xs)), strict=True)
        ]
    numbers = [float(t.number) for t in done]
    values = [data.value(t, objective) for t in done]
    title = f"Slice: {spec.name}"
    if data.multi:
        title += f" ({data.objective_name(objective)})"
    chart = Chart(
        name="slice",
        title=title,
        x_label=spec.name + (" (log)" if spec.kind == "log" else ""),
        y_label=data.objective_label(objective),
        x_scale=spec.kind,
        x_categories=spec.labels,
        x_range=spec.bounds if spec.bounds and spec.bounds[1] > spec.bounds[0] else None,
        x_integer=spec.integer,
        y_scale=_value_scale(values),
        width=THIRD_WIDTH,
        height=300,
        colorbar=svg.Colorbar(min(numbers), max(numbers), "trial") if numbers else None,
    )
    chart.points(
        xs,
        values,
        colors=[svg.sequential_color(s) for s in svg.normalise(numbers)],
        tooltips=[trial_tooltip(data, t) for t in done],
    )
    return chart
