"""Optuna's ``plot_*`` figures drawn with matplotlib: each returns the ``Axes`` it drew on.

Plots with several panels return the 2-D array of ``Axes`` (as Optuna does). The data
come from :mod:`tunelab.visualization._data`, shared with the plotly versions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tunelab._imports import optional_import
from tunelab.importance import BaseImportanceEvaluator
from tunelab.importance._params import ParamSpec
from tunelab.trial import FrozenTrial, TrialState
from tunelab.visualization import _data as d
from tunelab.visualization._plotly import STATE_COLORS


def is_available() -> bool:
    """Whether matplotlib is installed (the ``report`` extra)."""
    return importlib.util.find_spec("matplotlib") is not None


def _plt() -> Any:
    return optional_import("matplotlib.pyplot", extra="report", purpose="tunelab.visualization")


def _axes(title: str) -> Any:
    _, ax = _plt().subplots()
    ax.set_title(title)
    return ax


def _grid(n: int, title: str) -> Any:
    fig, axes = _plt().subplots(n, n, figsize=(3 * n, 3 * n), squeeze=False)
    fig.suptitle(title)
    return axes


def _set_axis(ax: Any, spec: ParamSpec, which: str) -> None:
    """Log scale, or category labels at their indices, on the ``x`` or ``y`` axis."""
    getattr(ax, f"set_{which}label")(spec.name)
    if spec.kind == "log":
        getattr(ax, f"set_{which}scale")("log")
    elif spec.kind == "category":
        getattr(ax, f"set_{which}ticks")(range(len(spec.choices)), list(spec.labels))


def plot_optimization_history(
    study: Any,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
    error_bar: bool = False,
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_optimization_history`."""
    ax = _axes("Optimization History Plot")
    ax.set_xlabel("Trial")
    ax.set_ylabel(target_name)
    for line in d.history_data(study, target, target_name, error_bar):
        if line.values_std is not None:
            ax.errorbar(line.numbers, line.values, yerr=line.values_std, fmt="o", label=line.name)
        else:
            ax.scatter(line.numbers, line.values, label=line.name)
        if line.best is not None:
            ax.plot(line.numbers, line.best, label=line.best_name)
            if line.best_std is not None:
                low, high = line.best - line.best_std, line.best + line.best_std
                ax.fill_between(line.numbers, low, high, alpha=0.2)
    ax.legend()
    return ax


def plot_intermediate_values(study: Any) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_intermediate_values`."""
    ax = _axes("Intermediate Values Plot")
    ax.set_xlabel("Step")
    ax.set_ylabel("Intermediate Value")
    for curve in d.intermediate_data(study):
        ax.plot(
            curve.steps,
            curve.values,
            marker="o",
            color=STATE_COLORS.get(curve.state),
            label=f"Trial{curve.number}",
        )
    return ax


def plot_param_importances(
    study: Any,
    evaluator: BaseImportanceEvaluator | None = None,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_param_importances`."""
    ax = _axes("Hyperparameter Importances")
    ax.set_xlabel(f"Hyperparameter Importance ({target_name})")
    ax.set_ylabel("Hyperparameter")
    groups = d.importance_data(study, evaluator, params, target, target_name)
    height = 0.8 / max(len(groups), 1)
    for k, (name, importances) in enumerate(groups.items()):
        names = list(importances)[::-1]
        where = np.arange(len(names)) + k * height
        ax.barh(where, [importances[n] for n in names], height=height, label=name)
        ax.set_yticks(where, names)
    if len(groups) > 1:
        ax.legend()
    return ax


def plot_parallel_coordinate(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_parallel_coordinate`.

    Each axis is scaled to [0, 1] (log10 for log-scaled parameters, index for categories)
    and labelled with its range.
    """
    plt = _plt()
    ax = _axes("Parallel Coordinate Plot")
    data = d.params_data(study, params, target, need_all=True)
    columns = [data.values] + [
        np.log10(c) if s.kind == "log" else c for s, c in zip(data.specs, data.columns, strict=True)
    ]
    names = [target_name] + [s.name for s in data.specs]
    scaled = []
    for column in columns:
        low, high = (column.min(), column.max()) if column.size else (0.0, 1.0)
        scaled.append((column - low) / (high - low) if high > low else np.full_like(column, 0.5))
    lines = np.array(scaled).T if scaled and data.values.size else np.empty((0, len(names)))
    cmap = plt.get_cmap("Blues" if data.reverse else "Blues_r")
    colours = scaled[0] if scaled else []
    for row, colour in zip(lines, colours, strict=True):
        ax.plot(range(len(names)), row, color=cmap(colour), alpha=0.7)
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks([])
    for k, column in enumerate(columns):
        if column.size:
            ax.annotate(f"{column.max():.3g}", (k, 1.0), ha="center", va="bottom")
            ax.annotate(f"{column.min():.3g}", (k, 0.0), ha="center", va="top")
    return ax


def plot_slice(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_slice`.

    Returns:
        One ``Axes`` for one parameter, else an array with one per parameter.
    """
    plt = _plt()
    data = d.params_data(study, params, target, need_all=False)
    n = max(len(data.specs), 1)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), sharey=True, squeeze=False)
    fig.suptitle("Slice Plot")
    numbers = np.array([t.number for t in data.trials])
    for ax, spec, column in zip(axes[0], data.specs, data.columns, strict=False):
        has = np.isfinite(column)
        ax.scatter(column[has], data.values[has], c=numbers[has], cmap="Blues")
        _set_axis(ax, spec, "x")
    axes[0][0].set_ylabel(target_name)
    return axes[0][0] if n == 1 else axes[0]


def plot_contour(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_contour`.

    Returns:
        One ``Axes`` for two parameters, else the grid of ``Axes`` (diagonal left empty).
    """
    data = d.params_data(study, params, target, need_all=False)
    n = len(data.specs)
    if n < 2:
        raise ValueError(
            f"plot_contour needs 2 or more parameters, got {[s.name for s in data.specs]!r}"
        )
    cmap = "Blues" if data.reverse else "Blues_r"
    if n == 2:
        ax = _axes("Contour Plot")
        _contour_panel(ax, data, 0, 1, cmap)
        return ax
    axes = _grid(n, "Contour Plot")
    for i in range(n):
        for j in range(n):
            if i == j:
                axes[i][j].axis("off")
            else:
                _contour_panel(axes[i][j], data, j, i, cmap)
    return axes


def _contour_panel(ax: Any, data: d.ParamsData, x: int, y: int, cmap: str) -> None:
    xs, ys = data.columns[x], data.columns[y]
    grid = d.contour_grid(xs, ys, data.values, data.specs[x], data.specs[y])
    if grid is not None:
        ax.contourf(grid.x, grid.y, grid.z, levels=20, cmap=cmap)
    both = np.isfinite(xs) & np.isfinite(ys)
    ax.scatter(xs[both], ys[both], color="black", s=8)
    _set_axis(ax, data.specs[x], "x")
    _set_axis(ax, data.specs[y], "y")


def plot_rank(
    study: Any,
    params: list[str] | None = None,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_rank`."""
    data = d.params_data(study, params, target, need_all=False)
    rank = d.ranks(data.values, data.reverse)
    n = len(data.specs)
    if n <= 2:
        ax = _axes("Rank Plot")
        xs = data.columns[0] if n else np.zeros(0)
        ys = data.columns[1] if n == 2 else data.values
        both = np.isfinite(xs) & np.isfinite(ys)
        ax.scatter(xs[both], ys[both], c=rank[both], cmap="RdYlBu_r", vmin=0.0, vmax=1.0)
        if n:
            _set_axis(ax, data.specs[0], "x")
        if n == 2:
            _set_axis(ax, data.specs[1], "y")
        else:
            ax.set_ylabel(target_name)
        return ax
    axes = _grid(n, "Rank Plot")
    for i in range(n):
        for j in range(n):
            ax = axes[i][j]
            if i == j:
                ax.axis("off")
                continue
            xs, ys = data.columns[j], data.columns[i]
            both = np.isfinite(xs) & np.isfinite(ys)
            ax.scatter(xs[both], ys[both], c=rank[both], cmap="RdYlBu_r", vmin=0.0, vmax=1.0)
            _set_axis(ax, data.specs[j], "x")
            _set_axis(ax, data.specs[i], "y")
    return axes


def plot_edf(
    study: Any,
    *,
    target: Callable[[FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_edf`."""
    ax = _axes("Empirical Distribution Function Plot")
    ax.set_xlabel(target_name)
    ax.set_ylabel("Cumulative Probability")
    ax.set_ylim(0.0, 1.0)
    data = d.edf_data(study, target, target_name)
    for name, y in data.lines.items():
        ax.plot(data.x, y, label=name)
    if data.lines:
        ax.legend()
    return ax


def plot_pareto_front(
    study: Any,
    *,
    target_names: list[str] | None = None,
    include_dominated_trials: bool = True,
    constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
    targets: Callable[[FrozenTrial], Sequence[float]] | None = None,
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_pareto_front`."""
    plt = _plt()
    data = d.pareto_data(study, target_names, include_dominated_trials, constraints_func, targets)
    three = len(data.names) == 3
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d" if three else None)
    ax.set_title("Pareto-front Plot")
    groups = [
        ("Trial", data.others, "#1f77b4"),
        ("Best Trial", data.front, "#d62728"),
        ("Infeasible Trial", data.infeasible, "#cccccc"),
    ]
    for name, points, color in groups:
        if len(points):
            ax.scatter(*points.T, color=color, label=name)
    ax.set_xlabel(data.names[0])
    ax.set_ylabel(data.names[1])
    if three:
        ax.set_zlabel(data.names[2])
    ax.legend()
    return ax


def plot_hypervolume_history(study: Any, reference_point: Sequence[float]) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_hypervolume_history`."""
    numbers, volumes = d.hypervolume_data(study, reference_point)
    ax = _axes("Hypervolume History Plot")
    ax.set_xlabel("Trial")
    ax.set_ylabel("Hypervolume")
    ax.plot(numbers, volumes, marker="o")
    return ax


def plot_timeline(study: Any, n_recent_trials: int | None = None) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_timeline`."""
    from matplotlib.dates import date2num

    bars = d.timeline_data(study, n_recent_trials)
    ax = _axes("Timeline Plot")
    ax.set_xlabel("Datetime")
    ax.set_ylabel("Trial")
    for state in TrialState:
        mine = [b for b in bars if b.state == state]
        if mine:
            starts = date2num([b.start for b in mine])
            ends = date2num([b.end for b in mine])
            ax.barh(
                [b.number for b in mine],
                ends - starts,
                left=starts,
                color=STATE_COLORS.get(state),
                label=state.name,
            )
    ax.xaxis_date()
    if bars:
        ax.legend()
    return ax
