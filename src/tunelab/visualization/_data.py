"""What each plot shows, computed once from the study and drawn by plotly or matplotlib.

Every ``*_data`` function returns plain numbers and names; the two backends only draw
them, so both show exactly the same data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunelab.importance import BaseImportanceEvaluator, get_param_importances
from tunelab.importance._hypervolume import dominated
from tunelab.importance._params import ParamSpec, param_specs
from tunelab.trial import FrozenTrial, StudyDirection, TrialState
from tunelab.visualization._front import running_hypervolume

Target = Callable[[FrozenTrial], float]


def as_studies(study: Any) -> list[Any]:
    """A study or a sequence of studies, as a list."""
    if hasattr(study, "get_trials"):
        return [study]
    studies = list(study)
    bad = [s for s in studies if not hasattr(s, "get_trials")]
    if bad:
        raise TypeError(f"study must be a Study or a list of Study, got {bad[0]!r}")
    return studies


def check_target(study: Any, target: Target | None) -> None:
    """A multi-objective study needs ``target`` for any single-value plot."""
    if target is None and len(study.directions) > 1:
        raise ValueError(
            "this study has several objectives: pass target=, e.g. "
            "target=lambda t: t.values[0], to plot one of them"
        )


def _value(trial: FrozenTrial, target: Target | None) -> float:
    if target is not None:
        return float(target(trial))
    return float((trial.values or [math.nan])[0])


def scored(study: Any, target: Target | None) -> tuple[list[FrozenTrial], np.ndarray]:
    """Complete trials with a finite target, and those targets."""
    check_target(study, target)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    values = np.array([_value(t, target) for t in trials], dtype=float)
    keep = np.isfinite(values)
    return [t for t, k in zip(trials, keep, strict=True) if k], values[keep]


def chosen_specs(trials: Sequence[FrozenTrial], params: list[str] | None) -> list[ParamSpec]:
    """Specs of ``params`` (all parameters of ``trials`` when None), checking the names."""
    specs = {s.name: s for s in param_specs(trials)}
    if params is None:
        return [specs[n] for n in sorted(specs)]
    if not isinstance(params, list | tuple) or not all(isinstance(p, str) for p in params):
        raise TypeError(f"params must be a list of parameter names, got {params!r}")
    missing = [p for p in params if p not in specs]
    if missing:
        raise ValueError(f"params {missing!r} are in no complete trial; known: {sorted(specs)!r}")
    return [specs[n] for n in params]


def positions(spec: ParamSpec, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Where each trial sits on ``spec``'s axis (NaN where the trial lacks it)."""
    return np.array(
        [spec.position(t.params[spec.name]) if spec.name in t.params else math.nan for t in trials],
        dtype=float,
    )


# -- history --


@dataclass
class HistoryLine:
    """One study's (or the studies' mean) values and best-so-far by trial number."""

    name: str
    numbers: np.ndarray
    values: np.ndarray
    best: np.ndarray | None
    best_name: str = "Best Value"
    values_std: np.ndarray | None = None
    best_std: np.ndarray | None = None


def history_data(
    study: Any, target: Target | None, target_name: str, error_bar: bool
) -> list[HistoryLine]:
    studies = as_studies(study)
    lines = []
    for s in studies:
        trials, values = scored(s, target)
        best = None
        if target is None:
            better = np.fmax if s.directions[0] == StudyDirection.MAXIMIZE else np.fmin
            best = better.accumulate(values) if values.size else values
        numbers = np.array([t.number for t in trials], dtype=int)
        if len(studies) == 1:
            lines.append(HistoryLine(target_name, numbers, values, best))
        else:
            name, best_name = f"{target_name} of {s.study_name}", f"Best Value of {s.study_name}"
            lines.append(HistoryLine(name, numbers, values, best, best_name))
    if not error_bar or not lines:
        return lines
    return [_mean_line(lines, target_name)]


def _mean_line(lines: list[HistoryLine], target_name: str) -> HistoryLine:
    """Mean and standard deviation over studies, trial number by trial number."""
    size = max((int(line.numbers.max()) + 1 for line in lines if line.numbers.size), default=0)
    values = np.full((len(lines), size), np.nan)
    best = np.full((len(lines), size), np.nan)
    for i, line in enumerate(lines):
        values[i, line.numbers] = line.values
        if line.best is not None:
            best[i, line.numbers] = line.best
    seen = ~np.isnan(values).all(axis=0)
    numbers = np.flatnonzero(seen)
    with np.errstate(all="ignore"):
        mean_best = np.nanmean(best[:, seen], axis=0) if lines[0].best is not None else None
        return HistoryLine(
            target_name,
            numbers,
            np.nanmean(values[:, seen], axis=0),
            mean_best,
            "Best Value",
            np.nanstd(values[:, seen], axis=0),
            np.nanstd(best[:, seen], axis=0) if mean_best is not None else None,
        )


# -- intermediate values --


@dataclass
class Curve:
    number: int
    state: TrialState
    steps: np.ndarray
    values: np.ndarray


def intermediate_data(study: Any) -> list[Curve]:
    curves = []
    for trial in study.get_trials():
        if trial.intermediate_values:
            steps = np.array(sorted(trial.intermediate_values))
            values = np.array([trial.intermediate_values[s] for s in steps], dtype=float)
            curves.append(Curve(trial.number, trial.state, steps, values))
    return curves


# -- importances --


def importance_data(
    study: Any,
    evaluator: BaseImportanceEvaluator | None,
    params: list[str] | None,
    target: Target | None,
    target_name: str,
) -> dict[str, dict[str, float]]:
    """Importances per objective name (one entry unless the study has several objectives)."""
    if target is not None or len(study.directions) == 1:
        return {
            target_name: get_param_importances(
                study, evaluator=evaluator, params=params, target=target
            )
        }
    out = {}
    for i, direction in enumerate(study.directions):
        sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
        out[f"{target_name} {i}"] = get_param_importances(
            study,
            evaluator=evaluator,
            params=params,
            target=_objective(i, sign),
        )
    return out


def _objective(index: int, sign: float) -> Target:
    return lambda t: sign * (t.values or [])[index]


# -- parameters against the objective: parallel coordinates, slice, contour, rank --


@dataclass
class ParamsData:
    """Trials with every chosen parameter, their target and each parameter's axis."""

    specs: list[ParamSpec]
    trials: list[FrozenTrial]
    values: np.ndarray
    columns: list[np.ndarray] = field(default_factory=list)
    reverse: bool = False


def params_data(
    study: Any, params: list[str] | None, target: Target | None, *, need_all: bool
) -> ParamsData:
    """``need_all``: keep only trials with every chosen parameter (parallel coordinates)."""
    trials, values = scored(study, target)
    specs = chosen_specs(trials, params)
    if need_all:
        keep = [all(s.name in t.params for s in specs) for t in trials]
        trials = [t for t, k in zip(trials, keep, strict=True) if k]
        values = values[np.array(keep, dtype=bool)] if keep else values
    columns = [positions(s, trials) for s in specs]
    reverse = target is None and study.directions[0] == StudyDirection.MAXIMIZE
    return ParamsData(specs, trials, values, columns, reverse)


@dataclass
class ContourGrid:
    """Target interpolated over two parameters' axes (log ones sampled geometrically)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


_GRID = 100


def contour_grid(
    xs: np.ndarray, ys: np.ndarray, values: np.ndarray, x_spec: ParamSpec, y_spec: ParamSpec
) -> ContourGrid | None:
    """Linear interpolation of the target over the trials' convex hull; None if degenerate."""
    from scipy.interpolate import griddata

    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys, values = xs[keep], ys[keep], values[keep]
    ux, uy = _to_scale(xs, x_spec), _to_scale(ys, y_spec)
    if len(np.unique(ux)) < 2 or len(np.unique(uy)) < 2:
        return None
    gx = np.linspace(ux.min(), ux.max(), _GRID)
    gy = np.linspace(uy.min(), uy.max(), _GRID)
    mx, my = np.meshgrid(gx, gy)
    try:
        z = griddata((ux, uy), values, (mx, my), method="linear")
    except (ValueError, RuntimeError):  # collinear points: nothing to interpolate
        return None
    return ContourGrid(_from_scale(gx, x_spec), _from_scale(gy, y_spec), z)


def _to_scale(v: np.ndarray, spec: ParamSpec) -> np.ndarray:
    return np.log10(v) if spec.kind == "log" else v


def _from_scale(v: np.ndarray, spec: ParamSpec) -> np.ndarray:
    return np.power(10.0, v) if spec.kind == "log" else v


def ranks(values: np.ndarray, reverse: bool) -> np.ndarray:
    """Each value's rank among all, scaled to [0, 1], 0 the best."""
    if values.size < 2:
        return np.zeros(values.size)
    order = np.argsort(-values if reverse else values, kind="stable")
    out = np.empty(values.size)
    out[order] = np.arange(values.size) / (values.size - 1)
    return out


# -- EDF --


@dataclass
class EdfData:
    x: np.ndarray
    lines: dict[str, np.ndarray]


_EDF_POINTS = 100


def edf_data(study: Any, target: Target | None, target_name: str) -> EdfData:
    studies = as_studies(study)
    values = {s.study_name: scored(s, target)[1] for s in studies}
    pooled = np.concatenate([v for v in values.values()] or [np.array([])])
    if pooled.size == 0:
        return EdfData(np.array([]), {})
    x = np.linspace(pooled.min(), pooled.max(), _EDF_POINTS)
    lines = {
        name: np.searchsorted(np.sort(v), x, side="right") / v.size
        for name, v in values.items()
        if v.size
    }
    return EdfData(x, lines)


# -- multi-objective --


@dataclass
class ParetoData:
    names: list[str]
    front: np.ndarray
    front_numbers: list[int]
    others: np.ndarray
    other_numbers: list[int]
    infeasible: np.ndarray
    infeasible_numbers: list[int]


def pareto_data(
    study: Any,
    target_names: list[str] | None,
    include_dominated_trials: bool,
    constraints_func: Callable[[FrozenTrial], Sequence[float]] | None,
    targets: Callable[[FrozenTrial], Sequence[float]] | None,
) -> ParetoData:
    n_obj = len(study.directions)
    if n_obj < 2:
        raise ValueError("plot_pareto_front needs a study with 2 or more objectives")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    if targets is None:
        if n_obj > 3:
            raise ValueError("give targets= to choose 2 or 3 of the study's objectives to plot")
        points = np.array([t.values for t in trials], dtype=float).reshape(len(trials), n_obj)
        signs = _signs(study.directions)
    else:
        points = np.array([list(targets(t)) for t in trials], dtype=float)
        points = points.reshape(len(trials), -1)
        if points.shape[1] not in (2, 3):
            raise ValueError(f"targets must return 2 or 3 values, got {points.shape[1]}")
        # Custom targets are read in the study's directions, as far as they go.
        signs = np.ones(points.shape[1])
        signs[: min(n_obj, points.shape[1])] = _signs(study.directions)[: points.shape[1]]
    dim = points.shape[1]
    names = (
        list(target_names) if target_names is not None else [f"Objective {i}" for i in range(dim)]
    )
    if len(names) != dim:
        raise ValueError(f"target_names must name {dim} objectives, got {len(names)}: {names!r}")
    finite = np.isfinite(points).all(axis=1)
    feasible = np.array(
        [constraints_func is None or all(c <= 0.0 for c in constraints_func(t)) for t in trials],
        dtype=bool,
    ).reshape(len(trials))
    candidates = finite & feasible
    is_best = np.zeros(len(trials), dtype=bool)
    index = np.flatnonzero(candidates)
    if index.size:
        is_best[index[~dominated(points[index] * signs)]] = True
    rest = candidates & ~is_best if include_dominated_trials else np.zeros_like(is_best)
    infeasible = finite & ~feasible
    numbers = np.array([t.number for t in trials])
    return ParetoData(
        names,
        points[is_best],
        numbers[is_best].tolist(),
        points[rest],
        numbers[rest].tolist(),
        points[infeasible],
        numbers[infeasible].tolist(),
    )


def _signs(directions: Sequence[StudyDirection]) -> np.ndarray:
    return np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])


def hypervolume_data(study: Any, reference_point: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Trial numbers and the hypervolume of the Pareto front of complete trials up to each."""
    directions = study.directions
    if len(directions) < 2:
        raise ValueError("plot_hypervolume_history needs a study with 2 or more objectives")
    reference = np.asarray(reference_point, dtype=float)
    if reference.shape != (len(directions),) or not np.isfinite(reference).all():
        raise ValueError(
            f"reference_point must be {len(directions)} finite numbers (one per objective), "
            f"got {list(reference_point)!r}"
        )
    signs = _signs(directions)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    numbers = np.array([t.number for t in trials], dtype=int)
    points = np.array([t.values for t in trials], dtype=float).reshape(len(trials), len(signs))
    points = points * signs
    # A trial with a non-finite value leaves the front, and the volume, as they were.
    finite = np.isfinite(points).all(axis=1)
    volumes = running_hypervolume(points[finite], reference * signs)
    last_finite = np.cumsum(finite) - 1
    history = np.where(
        last_finite >= 0, volumes[np.maximum(last_finite, 0)] if volumes.size else 0.0, 0.0
    )
    return numbers, history


# -- timeline --


@dataclass
class Bar:
    number: int
    state: TrialState
    start: dt.datetime
    end: dt.datetime


def timeline_data(study: Any, n_recent_trials: int | None) -> list[Bar]:
    if n_recent_trials is not None and (
        not isinstance(n_recent_trials, int) or n_recent_trials < 1
    ):
        raise ValueError(f"n_recent_trials must be a positive integer, got {n_recent_trials!r}")
    trials = [t for t in study.get_trials() if t.datetime_start is not None]
    if n_recent_trials is not None:
        trials = trials[-n_recent_trials:]
    now = dt.datetime.now()
    bars = []
    for t in trials:
        assert t.datetime_start is not None
        end = t.datetime_complete or (
            now if t.datetime_start.tzinfo is None else dt.datetime.now(t.datetime_start.tzinfo)
        )
        bars.append(Bar(t.number, t.state, t.datetime_start, end))
    return bars
