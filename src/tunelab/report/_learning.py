"""Learning curves of a study: each trial's intermediate values by step, with the
pruner's rungs and where pruned trials stopped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tunelab.pruners._successive_halving import first_completed_run
from tunelab.report import _svg as svg
from tunelab.report._chart import FULL_WIDTH, Chart
from tunelab.report._study_plots import StudyData, fmt
from tunelab.trial import FrozenTrial, TrialState
from tunelab.visualization._rungs import CurveInput, PrunerMarks, pruner_marks

# Steps spanning this many times the smallest (all >= 1) get a log axis.
_LOG_SPAN = 100
# More curves than this are unreadable and heavy: the latest trials are drawn.
MAX_CURVES = 200


def curve_trials(data: StudyData) -> list[FrozenTrial]:
    """Trials with at least one finite intermediate value, by number."""
    return [t for t in data.trials if any(math.isfinite(v) for v in t.intermediate_values.values())]


def marks_for(
    config: Any, study_name: str, trials: Sequence[FrozenTrial], shown: Sequence[FrozenTrial]
) -> PrunerMarks:
    """The stored pruner's rungs (or warm-up step) and the fate of ``shown`` at each rung."""
    run = first_completed_run(list(trials))
    curves = []
    for t in shown:
        steps = sorted(t.intermediate_values)
        values = [t.intermediate_values[s] for s in steps]
        curves.append(CurveInput(t.number, t.state, steps, values))
    return pruner_marks(config, study_name, curves, None if run is None else run.last_step)


def _points(trial: FrozenTrial) -> tuple[list[int], list[float]]:
    pairs = sorted((s, v) for s, v in trial.intermediate_values.items() if math.isfinite(v))
    return [s for s, _ in pairs], [v for _, v in pairs]


def _x_scale(steps: Sequence[int]) -> str:
    if steps and min(steps) >= 1 and max(steps) / min(steps) >= _LOG_SPAN:
        return "log"
    return "linear"


def learning_curves_chart(trials: Sequence[FrozenTrial], marks: PrunerMarks) -> Chart:
    """One line per trial (pruned ones muted), a cross where each pruned trial stopped,
    a dashed vertical line at each rung (dotted at the end of a warm-up) and a dot where
    each trial entered a rung: green when it was promoted, red when pruned there."""
    curves = [(t, *_points(t)) for t in trials]
    all_steps = [s for _, steps, _ in curves for s in steps]
    all_values = [v for _, _, values in curves for v in values]
    chart = Chart(
        name="learning-curves",
        title="Learning curves",
        x_label="step" + (" (log)" if _x_scale(all_steps) == "log" else ""),
        y_label="intermediate value",
        x_scale=_x_scale(all_steps),
        width=FULL_WIDTH,
        height=380,
    )
    low, high = min(all_values), max(all_values)
    for i, line in enumerate(marks.lines):
        warmup = line.label == "warm-up ends"
        chart.line(
            [line.step, line.step],
            [low, high],
            color=svg.MUTED,
            label=line.label if warmup else ("rung" if i == 0 else None),
            css="warmup" if warmup else "rung",
            width=1.0,
            dash="1 3" if warmup else "3 3",
        )
    labelled: set[TrialState] = set()
    for trial, steps, values in curves:
        pruned = trial.state == TrialState.PRUNED
        color = svg.MUTED if pruned else svg.PALETTE[0 if trial.state == TrialState.COMPLETE else 1]
        state = trial.state.name.lower()
        chart.line(
            steps,
            values,
            color=color,
            label=state if trial.state not in labelled else None,
            css=f"curve {state}",
            width=1.2,
        )
        labelled.add(trial.state)
    # A single report draws no line: a dot shows it (a pruned trial's cross does already).
    dots = [(s[0], v[0]) for t, s, v in curves if len(s) == 1 and t.state != TrialState.PRUNED]
    if dots:
        chart.points([s for s, _ in dots], [v for _, v in dots], css="curve-dot", radius=2.5)
    for promoted in (True, False):
        chosen = [m for m in marks.marks if m.promoted == promoted and math.isfinite(m.value)]
        if not chosen:
            continue
        verb = "promoted past" if promoted else "pruned at"
        chart.points(
            [m.step for m in chosen],
            [m.value for m in chosen],
            color=svg.PALETTE[2] if promoted else svg.FAIL_RED,
            label="promoted at a rung" if promoted else "pruned at a rung",
            tooltips=[
                f"trial #{m.number} {verb} the rung at step {m.rung_step} ({fmt(m.value)})"
                for m in chosen
            ],
            css="promoted" if promoted else "demoted",
            radius=3.0,
        )
    ends = [(t, s[-1], v[-1]) for t, s, v in curves if t.state == TrialState.PRUNED]
    if ends:
        chart.points(
            [step for _, step, _ in ends],
            [value for _, _, value in ends],
            color=svg.FAIL_RED,
            label="pruned here",
            tooltips=[f"trial #{t.number} pruned at step {s} ({fmt(v)})" for t, s, v in ends],
            css="pruned-end",
            marker="cross",
        )
    return chart
