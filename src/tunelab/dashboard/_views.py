"""What each chart and the table show, aggregated and downsampled on the server.

Every answer is bounded in size whatever the study's size: the history keeps the
trials on which the best value improved and each bucket's extremes, samples keep the
best trials and a seeded draw of the rest, and the contour averages every trial
into a grid.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from tunelab.dashboard._data import StudyData, external
from tunelab.space import BaseDistribution, CategoricalDistribution
from tunelab.trial import StudyDirection, TrialState
from tunelab.visualization._front import (
    MARGIN,
    distinct_front,
    hypervolume_history,
    spread_checkpoints,
    thin_steps,
)
from tunelab.visualization._rungs import CurveInput, pruner_marks

_COMPLETE = int(TrialState.COMPLETE)
HISTORY_POINTS = 2000
SAMPLE_POINTS = 1000
CURVE_TRIALS = 40
CURVE_STEPS = 200
CONTOUR_BINS = 24
IMPORTANCE_TRIALS = 5000
IMPORTANCE_GROWTH = 0.01
# Cells compared at once when checking rows against the front: bounds memory.
_FRONT_CELLS = 4_000_000
SORTABLE = ("number", "state", "duration", "start", "complete")


class ViewError(ValueError):
    """A request names something the study does not have (answered with 404 or 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _num(value: float) -> float | None:
    """A JSON number, or null for NaN and infinities."""
    return float(value) if math.isfinite(value) else None


def _sign(direction: StudyDirection) -> float:
    return -1.0 if direction == StudyDirection.MAXIMIZE else 1.0


def _objective(data: StudyData, objective: int) -> int:
    if not 0 <= objective < len(data.directions):
        raise ViewError(
            f"objective must be between 0 and {len(data.directions) - 1}, got {objective}"
        )
    return objective


def summary(data: StudyData) -> dict[str, Any]:
    """Counts by state, best trial(s), running now and the time span of a study."""
    a = data.arrays()
    state = a["state"]
    counts = {s.name: int(np.count_nonzero(state == int(s))) for s in TrialState}
    best: list[dict[str, Any]] = []
    done = np.flatnonzero(state == _COMPLETE)
    for k, direction in enumerate(data.directions):
        values = a[f"value{k}"][done]
        if values.size:
            i = int(np.argmin(_sign(direction) * values))
            best.append({"number": int(done[i]), "value": _num(values[i])})
        else:
            best.append({"number": None, "value": None})
    starts = a["start"][np.isfinite(a["start"])]
    return {
        "name": data.name,
        "study_id": data.study_id,
        "directions": [d.name.lower() for d in data.directions],
        "n_trials": data.n,
        "counts": counts,
        "running": counts["RUNNING"],
        "best": best,
        "first_start": _num(float(starts.min())) if starts.size else None,
        "last_change": _num(float(np.nanmax(a["complete"]))) if done.size else None,
        "cursor": data.cursor,
    }


def history(data: StudyData, objective: int = 0, points: int = HISTORY_POINTS) -> dict[str, Any]:
    """Complete trials' values, downsampled, and the best-so-far steps.

    At most ``points`` trials are kept when there are more: the lowest and highest value
    of each of ``points / 2`` buckets of consecutive trials, and every trial on which
    the best value improved, so the best-so-far line and the spread are both exact.
    """
    k = _objective(data, objective)
    a = data.arrays()
    done = np.flatnonzero(a["state"] == _COMPLETE)
    values = a[f"value{k}"][done]
    sign = _sign(data.directions[k])
    signed = sign * values
    running = np.minimum.accumulate(signed) if signed.size else signed
    improved = np.flatnonzero(np.r_[True, running[1:] < running[:-1]]) if signed.size else done
    if values.size > points:
        buckets = max(1, points // 2)
        bucket = np.arange(values.size) * buckets // values.size
        order = np.lexsort((values, bucket))
        edges = np.flatnonzero(np.r_[True, bucket[order][1:] != bucket[order][:-1]])
        lows = order[edges]
        highs = order[np.r_[edges[1:] - 1, order.size - 1]]
        keep = np.unique(np.concatenate([lows, highs, improved]))
    else:
        keep = np.arange(values.size)
    return {
        "objective": k,
        "direction": data.directions[k].name.lower(),
        "n_complete": int(values.size),
        "points": [[int(done[i]), _num(values[i])] for i in keep],
        "best": [[int(done[i]), _num(sign * running[i])] for i in improved],
        "cursor": data.cursor,
    }


def row(data: StudyData, number: int, a: dict[str, np.ndarray]) -> dict[str, Any]:
    """One trial's table row, without parameters."""
    start, complete = float(a["start"][number]), float(a["complete"][number])
    state = TrialState(int(a["state"][number]))
    return {
        "number": number,
        "trial_id": data.trial_id[number],
        "state": state.name,
        "values": [_num(float(a[f"value{k}"][number])) for k in range(len(data.directions))],
        "start": _num(start),
        "complete": _num(complete),
        "duration": _num(complete - start),
        "fail_reason": data.fail_reason.get(data.trial_id[number]),
    }


def rows(data: StudyData, numbers: list[int]) -> list[dict[str, Any]]:
    """Table rows of these trials, with their parameters."""
    a = data.arrays()
    params = _params_of(data, numbers, a)
    out = []
    for number in numbers:
        item = row(data, number, a)
        item["params"] = params.get(number, {})
        out.append(item)
    return out


def _params_of(
    data: StudyData, numbers: list[int], a: dict[str, np.ndarray]
) -> dict[int, dict[str, Any]]:
    if not data.params_loaded or not numbers:
        return data.params_of(numbers) if numbers else {}
    out: dict[int, dict[str, Any]] = {}
    for name, dist in data.dists.items():
        column = a.get(f"param:{name}")
        if column is None:
            continue
        for number in numbers:
            value = external(dist, float(column[number]))
            if value is not None:
                out.setdefault(number, {})[name] = value
    return out


def select(
    data: StudyData,
    *,
    sort: str = "number",
    descending: bool = False,
    states: list[str] | None = None,
    search: str = "",
) -> np.ndarray:
    """Numbers of the trials passing the filters, in table order."""
    a = data.arrays()
    mask = np.ones(data.n, dtype=bool)
    if states:
        wanted = []
        for name in states:
            try:
                wanted.append(int(TrialState[name.upper()]))
            except KeyError:
                accepted = ", ".join(s.name for s in TrialState)
                raise ViewError(f"state must be one of {accepted}, got {name!r}") from None
        mask &= np.isin(a["state"], wanted)
    if search:
        needle = search.lower()
        hits = [
            data.number_of(i)
            for i, reason in list(data.fail_reason.items())
            if needle in reason.lower()
        ]
        if needle.isdigit():
            hits.append(int(needle))
        found = np.zeros(data.n, dtype=bool)
        found[[h for h in hits if h < data.n]] = True
        mask &= found
    chosen = np.flatnonzero(mask)
    key = _sort_key(data, sort, a)
    if key is None:
        return chosen[::-1] if descending else chosen
    values = key[chosen]
    # NaN (no value) sorts last either way.
    order = np.argsort(-values if descending else values, kind="stable")
    return chosen[order]


def _sort_key(data: StudyData, sort: str, a: dict[str, np.ndarray]) -> np.ndarray | None:
    if sort == "number":
        return None
    if sort == "state":
        return a["state"].astype(float)
    if sort == "duration":
        return a["complete"] - a["start"]
    if sort in ("start", "complete"):
        return a[sort]
    if sort.startswith("value") and sort[5:].isdigit():
        return a[f"value{_objective(data, int(sort[5:]))}"]
    if sort.startswith("param:"):
        data.ensure_params()
        a = data.arrays()
        if sort in a:
            return a[sort]
    names = ", ".join([*SORTABLE, "value0", "param:<name>"])
    raise ViewError(f"sort must be one of {names}; got {sort!r}")


def table(
    data: StudyData,
    *,
    page: int = 0,
    size: int = 50,
    sort: str = "number",
    descending: bool = False,
    states: list[str] | None = None,
    search: str = "",
) -> dict[str, Any]:
    """One page of the trial table."""
    if page < 0:
        raise ViewError(f"page must be 0 or more, got {page}")
    if not 1 <= size <= 1000:
        raise ViewError(f"size must be between 1 and 1000, got {size}")
    chosen = select(data, sort=sort, descending=descending, states=states, search=search)
    numbers = [int(n) for n in chosen[page * size : (page + 1) * size]]
    return {
        "total": int(chosen.size),
        "page": page,
        "size": size,
        "rows": rows(data, numbers),
        "cursor": data.cursor,
    }


def _sample(data: StudyData, objective: int, limit: int) -> np.ndarray:
    """Complete trials to plot: the best fifth of ``limit`` and a seeded draw of the rest."""
    a = data.arrays()
    done = np.flatnonzero(a["state"] == _COMPLETE)
    if done.size <= limit:
        return done
    signed = _sign(data.directions[objective]) * a[f"value{objective}"][done]
    n_best = limit // 5
    best = done[np.argpartition(signed, n_best)[:n_best]]
    rest = np.setdiff1d(done, best, assume_unique=True)
    drawn = np.random.default_rng(data.n).choice(rest, limit - n_best, replace=False)
    return np.sort(np.concatenate([best, drawn]))


def _axis(name: str, dist: BaseDistribution) -> dict[str, Any]:
    if isinstance(dist, CategoricalDistribution):
        return {"name": name, "kind": "categorical", "choices": [str(c) for c in dist.choices]}
    low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
    return {"name": name, "kind": dist.kind, "low": low, "high": high, "log": bool(dist.log)}  # type: ignore[attr-defined]


def _normalised(dist: BaseDistribution, column: np.ndarray) -> np.ndarray:
    """Internal values on [0, 1] (log scale for log distributions; categories by index)."""
    if isinstance(dist, CategoricalDistribution):
        return column / max(1, len(dist.choices) - 1)
    low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
    if dist.log:  # type: ignore[attr-defined]
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high, column = math.log(low), math.log(high), np.log(column)
    return (column - low) / (high - low) if high > low else np.full_like(column, 0.5)


def parameters(data: StudyData, objective: int = 0, limit: int = SAMPLE_POINTS) -> dict[str, Any]:
    """Sampled trials for the parallel-coordinate and slice charts.

    Each parameter comes as its axis and, per sampled trial, its position on the
    axis between 0 and 1 (null where the trial lacks it).
    """
    k = _objective(data, objective)
    data.ensure_params()
    numbers = _sample(data, k, limit)
    a = data.arrays()
    axes, positions = [], []
    for name in sorted(data.dists):
        dist = data.dists[name]
        axes.append(_axis(name, dist))
        column = _normalised(dist, a[f"param:{name}"][numbers])
        positions.append([_num(float(v)) for v in column])
    return {
        "objective": k,
        "direction": data.directions[k].name.lower(),
        "n_complete": int(np.count_nonzero(a["state"] == _COMPLETE)),
        "numbers": [int(n) for n in numbers],
        "values": [_num(float(v)) for v in a[f"value{k}"][numbers]],
        "axes": axes,
        "positions": positions,
        "cursor": data.cursor,
    }


def contour(
    data: StudyData, x: str, y: str, objective: int = 0, bins: int = CONTOUR_BINS
) -> dict[str, Any]:
    """The mean objective value of every complete trial, on a grid of two parameters."""
    k = _objective(data, objective)
    data.ensure_params()
    for name, label in ((x, "x"), (y, "y")):
        if name not in data.dists:
            known = ", ".join(sorted(data.dists)) or "none"
            raise ViewError(f"{label}: the study has no parameter {name!r} (it has: {known})")
    a = data.arrays()
    done = a["state"] == _COMPLETE
    px = _normalised(data.dists[x], a[f"param:{x}"])
    py = _normalised(data.dists[y], a[f"param:{y}"])
    ok = done & np.isfinite(px) & np.isfinite(py) & np.isfinite(a[f"value{k}"])
    ix = np.clip((px[ok] * bins).astype(int), 0, bins - 1)
    iy = np.clip((py[ok] * bins).astype(int), 0, bins - 1)
    cell = iy * bins + ix
    total = np.bincount(cell, weights=a[f"value{k}"][ok], minlength=bins * bins)
    count = np.bincount(cell, minlength=bins * bins)
    with np.errstate(invalid="ignore"):
        mean = total / count
    return {
        "x": _axis(x, data.dists[x]),
        "y": _axis(y, data.dists[y]),
        "bins": bins,
        "grid": [_num(float(v)) for v in mean],
        "n_trials": int(np.count_nonzero(ok)),
        "cursor": data.cursor,
    }


def _front(points: np.ndarray) -> np.ndarray:
    """Indices of the rows no other row dominates (every column minimised)."""
    order = np.lexsort(points.T[::-1])
    candidates = points[order]
    if points.shape[1] == 2:
        # Sorted by the first objective (ties by the second), a row is on the front when
        # its second objective beats every row before it.
        second = candidates[:, 1]
        on = second < np.r_[np.inf, np.minimum.accumulate(second)[:-1]]
        # A copy of a front row dominates nothing and is not dominated: it is on the front too.
        for copy in np.flatnonzero(np.all(candidates[1:] == candidates[:-1], axis=1)) + 1:
            on[copy] = on[copy - 1]
        return np.asarray(order[on], dtype=int)
    # Every row is weakly dominated by a point of the distinct front, so a row is
    # dominated exactly when one of those (few) points dominates it.
    final = distinct_front(points)
    beaten = np.zeros(len(points), dtype=bool)
    step = max(1, _FRONT_CELLS // max(1, final.size))
    for start in range(0, len(points), step):
        block = points[start : start + step, None, :]
        beaten[start : start + step] = np.any(
            np.all(final[None] <= block, axis=2) & np.any(final[None] < block, axis=2), axis=1
        )
    return np.flatnonzero(~beaten)


class Fronts:
    """The Pareto view of each study, cached until a trial changes or another is picked.

    The hypervolume curve reads every feasible complete trial, so it is computed once
    per change of the study, not once per request.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, dict[str, Any]]] = {}
        # One lock per study: a large study's front takes seconds, and the other
        # studies' pages must not wait for it.
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, data: StudyData, picked: Any) -> dict[str, Any]:
        """The front, a sample of the rest, the hypervolume curve and the picked trial."""
        with self._guard:
            lock = self._locks.setdefault(data.study_id, threading.Lock())
        with lock:
            key = (data.cursor, repr(picked))
            cached = self._cache.get(data.study_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            result = pareto(data, picked)
            self._cache[data.study_id] = (key, result)
            return result


def pareto(data: StudyData, picked: Any = None, limit: int = SAMPLE_POINTS) -> dict[str, Any]:
    """The feasible trials on the Pareto front, samples of the others, and the front's
    hypervolume after each trial.

    Args:
        data: The study.
        picked: The study's ``picked_trial`` user attribute (the trial registered
            from the front), if any.
        limit: At most this many dominated (and this many infeasible) trials are sent.
    """
    if len(data.directions) < 2:
        raise ViewError("the Pareto front needs a study with two or more objectives")
    data.ensure_violations()
    a = data.arrays()
    n_obj = len(data.directions)
    done = np.flatnonzero(a["state"] == _COMPLETE)
    values = np.column_stack([a[f"value{k}"][done] for k in range(n_obj)])
    signs = np.array([_sign(d) for d in data.directions])
    finite = np.all(np.isfinite(values), axis=1)
    done, values = done[finite], values[finite]
    # As in Study.best_trials: once some trial stored constraints (NaN: none stored),
    # only a trial that met them all is feasible.
    violation = a["violation"][done]
    feasible = violation == 0 if np.isfinite(violation).any() else np.ones(done.size, dtype=bool)
    infeasible = done[~feasible]
    done, values = done[feasible], values[feasible]
    front = done[_front(values * signs)] if done.size else done
    rest = np.setdiff1d(done, front)
    rng = np.random.default_rng(data.n)
    if rest.size > limit:
        rest = np.sort(rng.choice(rest, limit, replace=False))
    if infeasible.size > limit:
        infeasible = np.sort(rng.choice(infeasible, limit, replace=False))

    def pack(numbers: np.ndarray) -> list[list[Any]]:
        return [[int(n)] + [_num(float(a[f"value{k}"][n])) for k in range(n_obj)] for n in numbers]

    return {
        "directions": [d.name.lower() for d in data.directions],
        "front": pack(np.sort(front)),
        "others": pack(rest),
        "infeasible": pack(infeasible),
        "n_complete": int(done.size),
        "hypervolume": _hypervolume(done, values, data.directions),
        "picked": _picked(data, picked, a),
        "cursor": data.cursor,
    }


def _hypervolume(
    numbers: np.ndarray, values: np.ndarray, directions: list[StudyDirection]
) -> dict[str, Any] | None:
    checkpoints = spread_checkpoints(numbers.size, len(directions))
    found = hypervolume_history(numbers, values, directions, checkpoints)
    if found is None:
        return None
    return {
        "points": [
            [n, _num(v)] for n, v in thin_steps(found.numbers, found.volumes, HISTORY_POINTS)
        ],
        "reference": [_num(float(v)) for v in found.reference],
        "margin": MARGIN,
    }


def _picked(data: StudyData, picked: Any, a: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The picked trial's record and its values, when it names a trial of this study."""
    if not isinstance(picked, dict):
        return None
    number = picked.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < data.n:
        return None
    values = [_num(float(a[f"value{k}"][number])) for k in range(len(data.directions))]
    return {**{k: _jsonable(v) for k, v in picked.items()}, "values": values}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _num(value)
    return str(value)


def curves(
    data: StudyData, pruner: Any = None, limit: int = CURVE_TRIALS, steps: int = CURVE_STEPS
) -> dict[str, Any]:
    """Learning curves of the most recent trials and the best complete ones, with the
    stored pruner's rungs and each drawn trial's fate at them.

    Args:
        data: The study.
        pruner: The pruner config stored with the study, if any.
        limit: At most this many curves.
        steps: At most this many points per curve.
    """
    a = data.arrays()
    recent = list(range(max(0, data.n - limit // 2), data.n))
    best: list[int] = []
    done = np.flatnonzero(a["state"] == _COMPLETE)
    if done.size:
        signed = _sign(data.directions[0]) * a["value0"][done]
        take = min(limit - len(recent), done.size)
        if take > 0:
            best = [int(n) for n in done[np.argsort(signed, kind="stable")[:take]]]
    numbers = sorted(set(recent) | set(best))
    found = data.steps(numbers)
    out, inputs = [], []
    for number in numbers:
        curve = found.get(number)
        if not curve:
            continue
        state = TrialState(int(a["state"][number]))
        inputs.append(CurveInput(number, state, [s for s, _ in curve], [v for _, v in curve]))
        if len(curve) > steps:
            picks = np.unique(np.linspace(0, len(curve) - 1, steps).astype(int))
            curve = [curve[i] for i in picks]
        out.append(
            {
                "number": number,
                "state": state.name,
                "steps": [s for s, _ in curve],
                "values": [_num(v) for _, v in curve],
            }
        )
    marks = pruner_marks(pruner, data.name, inputs, _first_run_last_step(data, a, done))
    return {
        "curves": out,
        "rungs": {
            "pruner": marks.pruner,
            "lines": [[line.step, line.label] for line in marks.lines],
            "marks": [[m.number, m.step, _num(m.value), m.promoted] for m in marks.marks],
            "note": marks.note,
        },
        "cursor": data.cursor,
    }


def _first_run_last_step(
    data: StudyData, a: dict[str, np.ndarray], done: np.ndarray, tries: int = 20
) -> int | None:
    """The last step of the first trial to complete with reports (resolves "auto" rungs)."""
    if not done.size:
        return None
    order = done[np.lexsort((done, a["complete"][done]))][:tries]
    found = data.steps([int(n) for n in order])
    for number in order:
        curve = found.get(int(number))
        if curve:
            return int(curve[-1][0])
    return None


class Importances:
    """Parameter importances of each study, cached by its number of complete trials.

    A large study is not re-analysed for every new trial: the cached answer stands
    until the complete trials have grown by :data:`IMPORTANCE_GROWTH` (or by one, below
    100 trials).
    """

    def __init__(self) -> None:
        self._cache: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, data: StudyData, limit: int = IMPORTANCE_TRIALS) -> dict[str, Any]:
        """Importances per objective, from at most ``limit`` sampled complete trials."""
        a = data.arrays()
        n_complete = int(np.count_nonzero(a["state"] == _COMPLETE))
        with self._lock:
            cached = self._cache.get(data.study_id)
            if cached is not None and n_complete <= cached["n_complete"] * (1 + IMPORTANCE_GROWTH):
                return cached
            result = _importances(data, n_complete, limit)
            self._cache[data.study_id] = result
            return result


def _importances(data: StudyData, n_complete: int, limit: int) -> dict[str, Any]:
    import tunelab as tl
    from tunelab.importance import get_param_importances

    data.ensure_params()
    a = data.arrays()
    per_objective: list[dict[str, float]] = []
    problems: list[str] = []
    used = 0
    for k in range(len(data.directions)):
        numbers = _sample(data, k, limit)
        used = int(numbers.size)
        if used < 2 or not data.dists:
            per_objective.append({})
            continue
        study = tl.create_study(direction=data.directions[k].name.lower())
        trials = []
        for n in numbers:
            params, dists = {}, {}
            for name, dist in data.dists.items():
                value = external(dist, float(a[f"param:{name}"][n]))
                if value is not None:
                    params[name], dists[name] = value, dist
            trials.append(
                tl.create_trial(value=float(a[f"value{k}"][n]), params=params, distributions=dists)
            )
        study.add_trials(trials)
        try:
            found = get_param_importances(study)
        except ValueError as exc:
            # Too few distinct values or trials: said on the chart, not as an error.
            problems.append(str(exc))
            found = {}
        per_objective.append({name: float(v) for name, v in found.items()})
    return {
        "objectives": per_objective,
        "n_used": used,
        "n_complete": n_complete,
        "warning": (
            f"only {n_complete} complete trials: importances are rough" if n_complete < 30 else None
        ),
    }
