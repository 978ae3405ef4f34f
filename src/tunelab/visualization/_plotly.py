"""Optuna's ``plot_*`` figures drawn with plotly: each returns a ``plotly.graph_objects.Figure``."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tunelab._imports import optional_import
from tunelab.importance import BaseImportanceEvaluator
from tunelab.importance._params import ParamSpec
from tunelab.trial import FrozenTrial, TrialState
from tunelab.visualization import _data as d

STATE_COLORS = {
    TrialState.COMPLETE: "#1f77b4",
    TrialState.PRUNED: "#ff7f0e",
    TrialState.FAIL: "#d62728",
    TrialState.RUNNING: "#2ca02c",
    TrialState.WAITING: "#7f7f7f",
}


def is_available() -> bool:
    """Whether plotly is installed (the ``report`` extra)."""
    return importlib.util.find_spec("plotly") is not None


def _go() -> Any:
    return optional_import("plotly.graph_objects", extra="report", purpose="tunelab.visualization")


def _subplots(rows: int, cols: int, **kwargs: Any) -> Any:
    _go()
    from plotly.subplots import make_subplots

    return make_subplots(rows=rows, cols=cols, **kwargs)


def _axis(spec: ParamSpec) -> dict[str, Any]:
    """Layout of an axis showing ``spec``: log scale, or category labels at their indices."""
    out: dict[str, Any] = {"title": {"text": spec.name}}
    if spec.kind == "log":
        out["type"] = "log"
    elif spec.kind == "category":
        out.update(tickvals=list(range(len(spec.choices))), ticktext=list(spec.labels))
    return out


def plot_optimization_history(
    study: Any,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
    error_bar: bool = False,
) -> Any:
    """Each complete trial's value by trial number, with the best value so far.

    Args:
        study: A study, or a list of studies drawn together.
        target: Value to plot per trial; needed for a multi-objective study. No best-so-far
            line is drawn for a custom target (its direction is unknown).
        target_name: Axis and legend label of the value.
        error_bar: With several studies, draw their mean and standard deviation by trial
            number instead of one series per study.

    Returns:
        A plotly figure.
    """
    go = _go()
    fig = go.Figure()
    for line in d.history_data(study, target, target_name, error_bar):
        error = None if line.values_std is None else {"type": "data", "array": line.values_std}
        fig.add_trace(
            go.Scatter(x=line.numbers, y=line.values, mode="markers", name=line.name, error_y=error)
        )
        if line.best is not None:
            fig.add_trace(
                go.Scatter(x=line.numbers, y=line.best, mode="lines", name=line.best_name)
            )
            if line.best_std is not None:
                band = np.concatenate(
                    [line.best + line.best_std, (line.best - line.best_std)[::-1]]
                )
                fig.add_trace(
                    go.Scatter(
                        x=np.concatenate([line.numbers, line.numbers[::-1]]),
                        y=band,
                        fill="toself",
                        line={"width": 0},
                        opacity=0.2,
                        name="Best Value ± std",
                        showlegend=False,
                    )
                )
    fig.update_layout(
        title="Optimization History Plot",
        xaxis={"title": {"text": "Trial"}},
        yaxis={"title": {"text": target_name}},
    )
    return fig


def plot_intermediate_values(study: Any) -> Any:
    """The values each trial reported by step (learning curves), pruned ones included.

    Returns:
        A plotly figure with one line per trial that reported a value.
    """
    go = _go()
    fig = go.Figure()
    for curve in d.intermediate_data(study):
        fig.add_trace(
            go.Scatter(
                x=curve.steps,
                y=curve.values,
                mode="lines+markers",
                name=f"Trial{curve.number}",
                marker={"color": STATE_COLORS.get(curve.state)},
            )
        )
    fig.update_layout(
        title="Intermediate Values Plot",
        xaxis={"title": {"text": "Step"}},
        yaxis={"title": {"text": "Intermediate Value"}},
        showlegend=False,
    )
    return fig


def plot_param_importances(
    study: Any,
    evaluator: BaseImportanceEvaluator | None = None,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Horizontal bars of :func:`tunelab.importance.get_param_importances`, largest on top.

    A multi-objective study without ``target`` gets one set of bars per objective.

    Returns:
        A plotly figure.
    """
    go = _go()
    fig = go.Figure()
    for name, importances in d.importance_data(
        study, evaluator, params, target, target_name
    ).items():
        names = list(importances)[::-1]
        values = [importances[n] for n in names]
        fig.add_trace(
            go.Bar(
                x=values,
                y=names,
                orientation="h",
                name=name,
                text=[f"{v:.2f}" if v >= 0.01 else "<0.01" for v in values],
                textposition="outside",
            )
        )
    fig.update_layout(
        title="Hyperparameter Importances",
        xaxis={"title": {"text": f"Hyperparameter Importance ({target_name})"}},
        yaxis={"title": {"text": "Hyperparameter"}},
    )
    return fig


def plot_parallel_coordinate(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """One line per complete trial through the objective and every parameter's axis.

    Log-scaled parameters are drawn by their log10 with labels in the original units;
    categorical ones by their index, labelled with the choice. Trials lacking one of the
    parameters (conditional spaces) are left out.

    Returns:
        A plotly figure with one ``Parcoords`` trace.
    """
    go = _go()
    data = d.params_data(study, params, target, need_all=True)
    dims: list[dict[str, Any]] = [{"label": target_name, "values": data.values}]
    for spec, column in zip(data.specs, data.columns, strict=True):
        dims.append(_parcoords_dimension(spec, column))
    line: dict[str, Any] = {"color": data.values, "colorscale": "Blues", "showscale": True}
    line["reversescale"] = not data.reverse
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line, labelangle=30, labelside="bottom"))
    fig.update_layout(title="Parallel Coordinate Plot")
    return fig


def _parcoords_dimension(spec: ParamSpec, column: np.ndarray) -> dict[str, Any]:
    if spec.kind == "category":
        return {
            "label": spec.name,
            "values": column,
            "range": [0, max(len(spec.choices) - 1, 1)],
            "tickvals": list(range(len(spec.choices))),
            "ticktext": list(spec.labels),
        }
    if spec.kind == "log":
        logs = np.log10(column)
        ticks: list[int] = (
            list(range(math.floor(logs.min()), math.ceil(logs.max()) + 1)) if logs.size else []
        )
        return {
            "label": spec.name,
            "values": logs,
            "tickvals": ticks,
            "ticktext": [f"1e{t}" for t in ticks],
        }
    return {"label": spec.name, "values": column}


def _raw_axis_values(spec: ParamSpec, trials: Sequence[FrozenTrial], column: np.ndarray) -> Any:
    """Values to put on a slice's x axis: labels for categories, the values otherwise."""
    if spec.kind == "category":
        return [str(t.params[spec.name]) if spec.name in t.params else None for t in trials]
    return column


def plot_slice(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """The target against each parameter, one panel per parameter, coloured by trial number.

    Returns:
        A plotly figure (log axes for log-scaled parameters, category axes for choices).
    """
    go = _go()
    data = d.params_data(study, params, target, need_all=False)
    n = len(data.specs)
    fig = _subplots(1, max(n, 1), shared_yaxes=True)
    numbers = [t.number for t in data.trials]
    for i, (spec, column) in enumerate(zip(data.specs, data.columns, strict=True)):
        has = np.isfinite(column)
        trials = [t for t, h in zip(data.trials, has, strict=True) if h]
        fig.add_trace(
            go.Scatter(
                x=_raw_axis_values(spec, trials, column[has]),
                y=data.values[has],
                mode="markers",
                name=spec.name,
                marker={
                    "color": np.asarray(numbers)[has],
                    "colorscale": "Blues",
                    "showscale": i == 0,
                    "colorbar": {"title": {"text": "Trial"}},
                },
                showlegend=False,
            ),
            row=1,
            col=i + 1,
        )
        axis: dict[str, Any] = {"title": {"text": spec.name}}
        if spec.kind == "log":
            axis["type"] = "log"
        elif spec.kind == "category":
            axis.update(type="category", categoryorder="array", categoryarray=list(spec.labels))
        fig.update_xaxes(axis, row=1, col=i + 1)
    fig.update_yaxes(title={"text": target_name}, row=1, col=1)
    fig.update_layout(title="Slice Plot")
    return fig


def plot_contour(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """The target interpolated over pairs of parameters, with the trials on top.

    Two parameters give one panel; more give a grid with every ordered pair off the
    diagonal. Log-scaled parameters get log axes; categorical ones are placed at their
    index and labelled with the choices.

    Returns:
        A plotly figure.
    """
    go = _go()
    data = d.params_data(study, params, target, need_all=False)
    if len(data.specs) < 2:
        raise ValueError(
            f"plot_contour needs 2 or more parameters, got {[s.name for s in data.specs]!r}"
        )
    n = len(data.specs)
    pairs = [(1, 0)] if n == 2 else [(i, j) for i in range(n) for j in range(n) if i != j]
    fig = go.Figure() if n == 2 else _subplots(n, n)
    for i, j in pairs:
        x_spec, y_spec = data.specs[j], data.specs[i]
        xs, ys = data.columns[j], data.columns[i]
        where = {} if n == 2 else {"row": i + 1, "col": j + 1}
        grid = d.contour_grid(xs, ys, data.values, x_spec, y_spec)
        if grid is not None:
            fig.add_trace(
                go.Contour(
                    x=grid.x,
                    y=grid.y,
                    z=grid.z,
                    colorscale="Blues",
                    reversescale=not data.reverse,
                    connectgaps=True,
                    contours_coloring="heatmap",
                    colorbar={"title": {"text": target_name}},
                    showscale=(i, j) == pairs[0],
                ),
                **where,
            )
        both = np.isfinite(xs) & np.isfinite(ys)
        fig.add_trace(
            go.Scatter(
                x=xs[both],
                y=ys[both],
                mode="markers",
                marker={"color": "black", "size": 5},
                showlegend=False,
                name="Trial",
            ),
            **where,
        )
        fig.update_xaxes(_axis(x_spec), **where)
        fig.update_yaxes(_axis(y_spec), **where)
    fig.update_layout(title="Contour Plot")
    return fig


def plot_rank(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Trials placed by pairs of parameters, coloured by the rank of their target (0 best).

    One parameter: the target against it. Two: one panel. More: a grid of every pair.

    Returns:
        A plotly figure.
    """
    go = _go()
    data = d.params_data(study, params, target, need_all=False)
    rank = d.ranks(data.values, data.reverse)
    n = len(data.specs)
    marker = {"color": rank, "colorscale": "RdYlBu_r", "cmin": 0.0, "cmax": 1.0}
    colorbar = {"title": {"text": f"Rank of {target_name}"}}
    if n == 1:
        spec, column = data.specs[0], data.columns[0]
        fig = go.Figure(
            go.Scatter(
                x=column,
                y=data.values,
                mode="markers",
                marker={**marker, "showscale": True, "colorbar": colorbar},
            )
        )
        fig.update_xaxes(_axis(spec))
        fig.update_yaxes(title={"text": target_name})
        fig.update_layout(title="Rank Plot")
        return fig
    pairs = [(1, 0)] if n == 2 else [(i, j) for i in range(n) for j in range(n) if i != j]
    fig = go.Figure() if n == 2 else _subplots(n, n)
    for i, j in pairs:
        where = {} if n == 2 else {"row": i + 1, "col": j + 1}
        xs, ys = data.columns[j], data.columns[i]
        both = np.isfinite(xs) & np.isfinite(ys)
        fig.add_trace(
            go.Scatter(
                x=xs[both],
                y=ys[both],
                mode="markers",
                marker={
                    **marker,
                    "color": rank[both],
                    "showscale": (i, j) == pairs[0],
                    "colorbar": colorbar,
                },
                showlegend=False,
            ),
            **where,
        )
        fig.update_xaxes(_axis(data.specs[j]), **where)
        fig.update_yaxes(_axis(data.specs[i]), **where)
    fig.update_layout(title="Rank Plot")
    return fig


def plot_edf(
    study: Any,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Empirical distribution function of the target: share of trials at or below each value.

    Args:
        study: A study, or a list of studies (one line each, over a shared x range).
        target: Value per trial; needed for a multi-objective study.
        target_name: Label of the x axis.

    Returns:
        A plotly figure.
    """
    go = _go()
    data = d.edf_data(study, target, target_name)
    fig = go.Figure()
    for name, y in data.lines.items():
        fig.add_trace(go.Scatter(x=data.x, y=y, mode="lines", name=name))
    fig.update_layout(
        title="Empirical Distribution Function Plot",
        xaxis={"title": {"text": target_name}},
        yaxis={"title": {"text": "Cumulative Probability"}, "range": [0, 1]},
    )
    return fig


def plot_pareto_front(
    study: Any,
    *,
    target_names: list[str] | None = None,
    include_dominated_trials: bool = True,
    constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
    targets: Callable[[FrozenTrial], Sequence[float]] | None = None,
) -> Any:
    """Complete trials in objective space, the non-dominated ones ("Best Trial") set apart.

    Args:
        study: A study with 2 or 3 objectives (more need ``targets``).
        target_names: Axis labels, one per objective plotted.
        include_dominated_trials: Draw the dominated trials too.
        constraints_func: Constraint values per trial (feasible when all are <= 0);
            infeasible trials are drawn in grey and never on the front.
        targets: The 2 or 3 values to plot per trial, in the study's directions.

    Returns:
        A plotly figure (3-D for three objectives).
    """
    go = _go()
    data = d.pareto_data(study, target_names, include_dominated_trials, constraints_func, targets)
    three = len(data.names) == 3
    trace = go.Scatter3d if three else go.Scatter
    fig = go.Figure()
    groups = [
        ("Trial", data.others, data.other_numbers, "#1f77b4"),
        ("Best Trial", data.front, data.front_numbers, "#d62728"),
        ("Infeasible Trial", data.infeasible, data.infeasible_numbers, "#cccccc"),
    ]
    for name, points, numbers, color in groups:
        if not numbers and name == "Infeasible Trial":
            continue
        coords = {"x": points[:, 0], "y": points[:, 1]}
        if three:
            coords["z"] = points[:, 2]
        fig.add_trace(
            trace(
                **coords,
                mode="markers",
                name=name,
                marker={"color": color},
                text=[f"Trial {n}" for n in numbers],
                customdata=numbers,
            )
        )
    if three:
        fig.update_layout(
            scene={
                "xaxis_title": data.names[0],
                "yaxis_title": data.names[1],
                "zaxis_title": data.names[2],
            }
        )
    else:
        fig.update_layout(
            xaxis={"title": {"text": data.names[0]}}, yaxis={"title": {"text": data.names[1]}}
        )
    fig.update_layout(title="Pareto-front Plot")
    return fig


def plot_hypervolume_history(study: Any, reference_point: Sequence[float]) -> Any:
    """Hypervolume of the Pareto front of the complete trials so far, by trial number.

    Args:
        study: A study with 2 or more objectives.
        reference_point: One value per objective, worse than every point of interest
            (in the objective's own direction).

    Returns:
        A plotly figure.
    """
    go = _go()
    numbers, volumes = d.hypervolume_data(study, reference_point)
    fig = go.Figure(go.Scatter(x=numbers, y=volumes, mode="lines+markers", name="Hypervolume"))
    fig.update_layout(
        title="Hypervolume History Plot",
        xaxis={"title": {"text": "Trial"}},
        yaxis={"title": {"text": "Hypervolume"}},
    )
    return fig


def plot_timeline(study: Any, n_recent_trials: int | None = None) -> Any:
    """When each trial ran: one bar per trial from start to finish, coloured by state.

    Args:
        study: The study.
        n_recent_trials: Only the last this many trials (all when None).

    Returns:
        A plotly figure with a date x axis.
    """
    go = _go()
    bars = d.timeline_data(study, n_recent_trials)
    fig = go.Figure()
    for state in TrialState:
        mine = [b for b in bars if b.state == state]
        if not mine:
            continue
        fig.add_trace(
            go.Bar(
                name=state.name,
                x=[(b.end - b.start).total_seconds() * 1000.0 for b in mine],
                y=[b.number for b in mine],
                base=[b.start.isoformat() for b in mine],
                orientation="h",
                marker={"color": STATE_COLORS.get(state)},
            )
        )
    fig.update_layout(
        title="Timeline Plot",
        xaxis={"title": {"text": "Datetime"}, "type": "date"},
        yaxis={"title": {"text": "Trial"}},
        barmode="overlay",
    )
    return fig
