"""The evaluator contract and what every evaluator needs: the trials, their target, the columns."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from tunelab.importance._params import ParamSpec, param_specs
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

Target = Callable[[FrozenTrial], float]


class BaseImportanceEvaluator(ABC):
    """How much each parameter of a study matters to its objective (or to ``target``)."""

    @abstractmethod
    def evaluate(
        self, study: Any, params: list[str] | None = None, *, target: Target | None = None
    ) -> dict[str, float]:
        """Unnormalised, non-negative importances, highest first.

        Args:
            study: A :class:`~tunelab.Study` (anything with ``get_trials`` and ``directions``).
            params: Names to assess; None for the evaluator's default set.
            target: Value to explain per trial; None for the objective value.

        Returns:
            Parameter name to importance, sorted from most to least important.
        """


def check_params(params: Any) -> list[str] | None:
    """``params`` as a list, or a TypeError naming what was wrong."""
    if params is None:
        return None
    if not isinstance(params, list | tuple):
        raise TypeError(f"params must be a list of parameter names, got {params!r}")
    bad = [p for p in params if not isinstance(p, str)]
    if bad:
        raise TypeError(f"params must be parameter names (str), got {bad!r}")
    return list(params)


def is_multi_objective(study: Any) -> bool:
    return len(study.directions) > 1


def complete_trials(study: Any, target: Target | None) -> list[FrozenTrial]:
    """Complete trials whose target (or every objective value) is finite."""
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    if target is not None:
        return [t for t in trials if math.isfinite(target(t))]
    return [t for t in trials if t.values is not None and all(map(math.isfinite, t.values))]


def single_target(study: Any, trials: Sequence[FrozenTrial], target: Target | None) -> np.ndarray:
    """One value per trial to explain; a multi-objective study needs ``target``."""
    if target is not None:
        return np.array([target(t) for t in trials], dtype=float)
    if is_multi_objective(study):
        raise ValueError(
            "this study has several objectives: pass target=, e.g. "
            "target=lambda t: t.values[0] for the first one"
        )
    return np.array([(t.values or [math.nan])[0] for t in trials], dtype=float)


def loss(study: Any, values: np.ndarray, target: Target | None) -> np.ndarray:
    """``values`` turned so that lower is better (a ``target`` is always minimised)."""
    if target is None and study.directions[0] == StudyDirection.MAXIMIZE:
        return -values
    return values


def shared_specs(trials: Sequence[FrozenTrial], params: list[str] | None) -> list[ParamSpec]:
    """The parameters a forest can use: ``params``, or those present in every trial.

    A ``params`` name that no complete trial has is an error.
    """
    specs = {s.name: s for s in param_specs(trials)}
    if params is None:
        names = [n for n in specs if all(n in t.params for t in trials)]
    else:
        missing = [p for p in params if p not in specs]
        if missing:
            raise ValueError(
                f"params {missing!r} appear in no complete trial; known: {sorted(specs)!r}"
            )
        names = list(params)
    return [specs[n] for n in names]


def varies(trials: Sequence[FrozenTrial], name: str) -> bool:
    """Whether some trial drew ``name`` from a distribution with more than one value."""
    return any(_not_single(t.distributions.get(name)) for t in trials)


def _not_single(dist: BaseDistribution | None) -> bool:
    return dist is not None and not dist.single()


def columns(rows: Sequence[dict[str, Any]], names: list[str]) -> list[tuple[Any, ...]]:
    """``rows`` as one tuple per name (None where a row lacks it)."""
    if len(names) == 1:
        return [tuple(row.get(names[0]) for row in rows)]
    try:
        table = list(map(itemgetter(*names), rows))
    except KeyError:
        table = [tuple(row.get(n) for n in names) for row in rows]
    return list(zip(*table, strict=True))


def choice_indices(choices: Sequence[Any], values: Sequence[Any]) -> np.ndarray:
    """Index of each value among ``choices`` (NaN when it is not one of them)."""
    # Keyed by type too: True == 1 but they are different choices.
    index = {(type(c), c): float(i) for i, c in enumerate(choices)}
    keys = zip(map(type, values), values, strict=True)
    out = np.fromiter(map(index.get, keys, repeat(math.nan)), float, len(values))
    for i in np.flatnonzero(np.isnan(out)):
        # NaN choices are not equal to themselves, so the dict misses them.
        out[i] = next(
            (float(k) for k, c in enumerate(choices) if _both_nan(c, values[int(i)])), math.nan
        )
    return out


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def encode(trials: Sequence[FrozenTrial], specs: Sequence[ParamSpec]) -> np.ndarray:
    """Trials × params matrix for regression, with the encoding of :meth:`ParamSpec.encode`."""
    out = np.empty((len(trials), len(specs)))
    table = columns([t.params for t in trials], [s.name for s in specs])
    for j, (spec, column) in enumerate(zip(specs, table, strict=True)):
        if spec.kind == "category":
            out[:, j] = choice_indices(spec.choices, column)
        else:
            out[:, j] = np.fromiter(column, float, len(column))
            if spec.kind == "log":
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[:, j] = np.where(out[:, j] > 0, np.log10(out[:, j]), np.nan)
    return out


def encoded_bounds(specs: Sequence[ParamSpec], x: np.ndarray) -> np.ndarray:
    """(low, high) of each encoded column: the space's bounds, widened to the data.

    A categorical index gets (-0.5, n - 0.5) so that every choice has the same width.
    """
    out = np.empty((len(specs), 2))
    for j, spec in enumerate(specs):
        if spec.kind == "category":
            out[j] = (-0.5, len(spec.choices) - 0.5)
        elif spec.bounds is not None:
            low, high = spec.bounds
            out[j] = (math.log10(low), math.log10(high)) if spec.kind == "log" else (low, high)
        else:
            out[j] = (np.nanmin(x[:, j]), np.nanmax(x[:, j]))
    if len(x):
        out[:, 0] = np.minimum(out[:, 0], x.min(axis=0))
        out[:, 1] = np.maximum(out[:, 1], x.max(axis=0))
    return out


def sort_desc(importances: dict[str, float]) -> dict[str, float]:
    """Highest first; ties keep their order."""
    return dict(sorted(importances.items(), key=lambda kv: -kv[1]))
