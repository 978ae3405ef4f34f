"""The study report: overview, history or Pareto front, importance, parallel coordinates,
slices and the best trials, as one self-contained HTML page."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.importance._params import param_specs
from tunelab.report import _html as h
from tunelab.report import _study_plots as plots
from tunelab.report._importance import MIN_TRIALS, param_importances, shared_params
from tunelab.report._learning import MAX_CURVES, curve_trials, learning_curves_chart, marks_for
from tunelab.report._metrics import objective_measures, recorded_metrics
from tunelab.report._study_plots import StudyData, fmt, fmt_param
from tunelab.study import PRUNER_KEY, pareto_front
from tunelab.trial import TrialState
from tunelab.visualization._front import (
    MARGIN,
    PICKED_TRIAL_KEY,
    hypervolume_history,
    spread_checkpoints,
)

Renderer = Callable[[Any], str]
_MAX_SLICES = 30
_MAX_BEST_ROWS = 10
_MAX_FRONT_ROWS = 20
# Below this many complete trials a forest fitted to them gives unstable importances.
RELIABLE_IMPORTANCE_TRIALS = 30


def study_report(study: Any, path: str | Path | None = None, *, interactive: bool = False) -> str:
    """An HTML report of a study, small enough to mail.

    Sections: overview (directions, trials by state, best value and parameters),
    optimisation history (or, with several objectives, the Pareto front of the first
    two), learning curves (when trials reported intermediate values: one line per
    trial, the pruner's rungs and where pruned trials stopped), parameter importance
    (see :func:`param_importances`), parallel coordinates,
    one slice plot per parameter and a table of the best trials. Studies with no or
    one complete trial still render, with a note where a plot cannot be drawn.

    Args:
        study: The :class:`~tunelab.Study` to report on.
        path: Where to write the HTML file (UTF-8); nothing is written when None.
        interactive: Draw the plots with plotly (zoom, hover) instead of inline SVG.
            Needs the ``report`` extra and makes the file several MB larger.

    Returns:
        The HTML document.

    Raises:
        ImportError: ``interactive=True`` and plotly is not installed.
    """
    render = _renderer(interactive)
    data = _read(study)
    sections = [
        h.Section("Overview", _overview(data)),
        _pareto_section(data, render) if data.multi else _history_section(data, render),
        *_other_metrics_section(data, render),
        *_curves_section(data, _system_attrs(study).get(PRUNER_KEY), render),
        h.Section("Parameter importance", _importance_body(data, render)),
        h.Section("Parallel coordinates", _parallel_body(data, render)),
        h.Section("Slice plots", _slices_body(data, render)),
        h.Section("Best trials", _best_table(data)),
    ]
    return h.write_report(h.render_report(sections, f"Study report: {data.name}"), path)


def _renderer(interactive: bool) -> Renderer:
    if not interactive:
        return lambda fig: fig.to_svg()
    from tunelab.report._plotly import PlotlyRenderer

    return PlotlyRenderer()


def _read(study: Any) -> StudyData:
    trials = tuple(study.get_trials(deepcopy=False))
    complete = tuple(
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.values is not None
        and all(math.isfinite(v) for v in t.values)
    )
    directions = tuple(study.directions)
    return StudyData(
        name=str(study.study_name),
        directions=directions,
        trials=trials,
        complete=complete,
        specs=tuple(param_specs(trials)),
        measures=objective_measures(study, directions),
        others=recorded_metrics(study, complete),
        picked=_picked(study),
    )


def _picked(study: Any) -> dict[str, Any] | None:
    attrs = getattr(study, "user_attrs", None)
    picked = attrs.get(PICKED_TRIAL_KEY) if isinstance(attrs, dict) else None
    return picked if isinstance(picked, dict) else None


def _overview(data: StudyData) -> str:
    counts = Counter(t.state for t in data.trials)
    by_state = ", ".join(f"{s.name.lower()} {counts[s]}" for s in TrialState if counts[s])
    pairs = [
        ("Study", data.name),
        ("Directions", ", ".join(_direction_text(data, i) for i in range(len(data.directions)))),
        ("Trials", f"{len(data.trials)}" + (f" ({by_state})" if by_state else "")),
    ]
    if data.complete and not data.multi:
        best = _ranked(data)[0]
        pairs.append(("Best value", f"{fmt(data.value(best))} (trial #{best.number})"))
        pairs.append(("Best parameters", _params_text(best.params)))
    elif data.complete:
        front = pareto_front(data.feasible, data.directions)
        pairs.append(("Pareto-optimal trials", str(len(front))))
        if data.picked_number is not None:
            pairs.append(("Picked trial", _picked_text(data)))
    notes = ""
    if not data.complete:
        notes = h.note("No trial has completed yet: plots of objective values are empty.")
    elif len(data.complete) == 1:
        notes = h.note("Only one trial has completed: trends and importances need more.")
    return h.facts(pairs) + notes


def _direction_text(data: StudyData, index: int) -> str:
    measure = data.measures[index]
    direction = measure.direction.name.lower()
    return direction if measure.name is None else f"{direction} {measure.name}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={fmt_param(v)}" for k, v in params.items()) or "(none)"


def _ranked(data: StudyData) -> list[Any]:
    sign = 1.0 if data.is_better(0.0, 1.0) else -1.0
    return sorted(data.complete, key=lambda t: (sign * data.value(t), t.number))


def _history_section(data: StudyData, render: Renderer) -> h.Section:
    caption = (
        "Dots: objective of each complete trial; line: best value so far. "
        "Crosses: pruned trials at their last reported value; triangles: trials "
        "pruned without a value or failed. Hover for parameters."
    )
    body = h.figure(render(plots.history_chart(data)), caption)
    return h.Section("Optimisation history", body)


def _other_metrics_section(data: StudyData, render: Renderer) -> list[h.Section]:
    """The further metrics each trial recorded (config studies), by trial number."""
    if not data.others or not data.complete:
        return []
    items = [
        h.figure(render(plots.metric_chart(data, stored, measure)))
        for stored, measure in data.others.items()
    ]
    caption = h.muted(
        "Metrics recorded beside the optimised one, for each complete trial (not optimised)."
    )
    return [h.Section("Other metrics", h.figures(items) + caption)]


def _system_attrs(study: Any) -> dict[str, Any]:
    attrs = getattr(study, "system_attrs", None)
    return attrs if isinstance(attrs, dict) else {}


def _curves_section(data: StudyData, pruner_config: Any, render: Renderer) -> list[h.Section]:
    """The learning-curves section, or none when no trial reported an intermediate value."""
    trials = curve_trials(data)
    if data.multi or not trials:
        return []
    shown = trials[-MAX_CURVES:]
    marks = marks_for(pruner_config, data.name, data.trials, shown)
    pruned = sum(t.state == TrialState.PRUNED for t in shown)
    caption = (
        f"Intermediate values of {len(shown)} trials by step; {pruned} pruned trials "
        "in grey, a red cross where each stopped."
    )
    if any(line.label != "warm-up ends" for line in marks.lines):
        caption += (
            " Dashed lines: the pruner's rungs; at each, a green dot where a trial was "
            "promoted past it and a red dot where one was pruned."
        )
    elif marks.lines:
        caption += " Dotted line: the end of the pruner's warm-up."
    caption += " " + marks.note
    if len(trials) > len(shown):
        caption += f" Only the latest {MAX_CURVES} of {len(trials)} trials are drawn."
    chart = learning_curves_chart(shown, marks)
    return [h.Section("Learning curves", h.figure(render(chart), caption))]


def _picked_text(data: StudyData) -> str:
    picked = data.picked or {}
    text = f"#{data.picked_number}"
    if picked.get("model"):
        text += f", registered as {picked['model']} v{picked.get('version', '?')}"
    if picked.get("rule"):
        text += f" (rule: {picked['rule']}"
        text += f"; best by {picked['by']})" if picked.get("by") else ")"
    return text


def _pareto_section(data: StudyData, render: Renderer) -> h.Section:
    if not data.complete:
        return h.Section("Pareto front", h.note("No trial has completed yet."))
    feasible = data.feasible
    if not feasible:
        return h.Section("Pareto front", h.note("No complete trial met its constraints yet."))
    front = pareto_front(feasible, data.directions)
    caption = f"{len(front)} Pareto-optimal of {len(feasible)} feasible complete trials."
    if len(feasible) < len(data.complete):
        caption += f" Crosses: {len(data.complete) - len(feasible)} trials that broke a constraint."
    if len(data.directions) > 2:
        caption += " The front is computed over all objectives; only the first two are drawn."
    if data.picked_number is not None:
        caption += f" Large dot: the picked trial {_picked_text(data)}."
        if data.picked_number not in {t.number for t in data.complete}:
            caption += " It is not a complete trial of this study, so it is not drawn."
    body = h.figure(render(plots.pareto_chart(data, front)), caption)
    history = hypervolume_history(
        [t.number for t in feasible],
        np.array([t.values for t in feasible], dtype=float),
        data.directions,
        spread_checkpoints(len(feasible), len(data.directions)),
    )
    if history is not None:
        reference = ", ".join(
            f"{data.objective_name(i)} = {fmt(data.measures[i].natural(float(v)))}"
            for i, v in enumerate(history.reference)
        )
        hv_caption = (
            "Dominated hypervolume of the Pareto front of the feasible complete trials "
            f"after each trial. Reference point: {reference} (each objective's worst value "
            f"among the trials ever on the front, {MARGIN:.0%} of their range beyond it)."
        )
        body = h.figures(
            [body, h.figure(render(plots.hypervolume_chart(data, history)), hv_caption)]
        )
    return h.Section("Pareto front", body)


def _importance_body(data: StudyData, render: Renderer) -> str:
    n = len(data.complete)
    if n < MIN_TRIALS:
        return h.note(f"Importance needs at least {MIN_TRIALS} complete trials; there are {n}.")
    items, notes = [], []
    for index in range(len(data.directions)):
        try:
            importances = param_importances(data.complete, objective=index, seed=0)
        except ValueError as exc:
            name = data.objective_name(index)
            notes.append(h.note(f"Importance for {name} not computed: {exc}."))
            continue
        items.append(h.figure(render(plots.importance_chart(importances, data, index))))
    body = ""
    if items and n < RELIABLE_IMPORTANCE_TRIALS:
        body += h.note(
            f"Computed from only {n} complete trials: with fewer than "
            f"{RELIABLE_IMPORTANCE_TRIALS} the importances are rough and may change "
            "noticeably as trials are added."
        )
    body += h.figures(items) if len(items) > 1 else "".join(items)
    body += "".join(notes)
    if items:
        what = "each objective's" if data.multi else "the objective's"
        body += h.muted(
            f"Share of {what} variance each parameter explains on its own (fANOVA main "
            f"effects of a seeded random forest fitted to the {n} complete trials)."
        )
    shared = {p.name for p in shared_params(data.complete)}
    skipped = [s.name for s in data.specs if s.name not in shared]
    if items and skipped:
        body += h.note("Not in every complete trial, so left out: " + ", ".join(skipped) + ".")
    return body


def _parallel_body(data: StudyData, render: Renderer) -> str:
    if not data.complete:
        return h.note("No complete trial to draw.")
    body = "".join(
        h.figure(render(plots.parallel_plot(data, i))) for i in range(len(data.directions))
    )
    caption = (
        f"One line per complete trial ({len(data.complete)}), coloured by "
        f"{'each objective in turn' if data.multi else data.objective_name(0)}; "
        "best trials drawn on top."
    )
    if shared_params(data.complete) != list(data.specs):
        caption += " A trial without some parameter skips that axis."
    return body + h.muted(caption)


def _slices_body(data: StudyData, render: Renderer) -> str:
    if not data.specs:
        return h.note("The study has no parameters.")
    if not data.complete:
        return h.note("No complete trial to draw.")
    specs = data.specs[:_MAX_SLICES]
    body = ""
    for objective in range(len(data.directions)):
        items = [
            h.figure(render(plots.slice_chart(data, s, i, objective))) for i, s in enumerate(specs)
        ]
        if data.multi:
            body += f"<h3>{h.esc(data.objective_label(objective))}</h3>"
        body += h.figures(items)
    body += '<p class="muted">Point colour: trial number (dark = early, light = late).</p>'
    if len(data.specs) > _MAX_SLICES:
        body += h.note(f"Only the first {_MAX_SLICES} of {len(data.specs)} parameters are shown.")
    return body


def _best_table(data: StudyData) -> str:
    if not data.complete:
        return h.note("No complete trial yet.")
    if data.multi:
        rows = sorted(pareto_front(data.feasible, data.directions), key=lambda t: t.values or [])
        rows, limit = rows[:_MAX_FRONT_ROWS], _MAX_FRONT_ROWS
        value_headers = [data.objective_name(i) for i in range(len(data.directions))]
    else:
        rows, limit = _ranked(data)[:_MAX_BEST_ROWS], _MAX_BEST_ROWS
        value_headers = [data.measures[0].name or "value"]
    names = [s.name for s in data.specs]
    headers = ["trial", *value_headers, *names, "duration (s)"]
    cells = [
        [
            f"#{t.number}",
            *(fmt(data.value(t, i)) for i in range(len(t.values or []))),
            *(fmt_param(t.params[n]) if n in t.params else "—" for n in names),
            f"{t.duration.total_seconds():.2f}" if t.duration is not None else "—",
        ]
        for t in rows
    ]
    numeric = [*range(1, 1 + len(value_headers)), len(headers) - 1]
    what = "Pareto-optimal trials (first" if data.multi else "Best complete trials (top"
    caption = f'<p class="muted">{what} {limit}).</p>'

    return caption + h.table(headers, cells, numeric=numeric)
