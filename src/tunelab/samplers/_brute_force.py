"""Exhaustive search over a finite define-by-run space, conditional branches included."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import BaseSampler
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    grid_values,
)
from tunelab.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_SEEN = (*_FINISHED, TrialState.RUNNING)

# One trial's path through the space: each parameter's value key and distribution.
_Path = dict[str, tuple[Hashable, BaseDistribution]]


class BruteForceSampler(BaseSampler):
    """Try every combination of a finite search space once, then stop the study.

    The space is whatever the objective asks for, so it may be conditional: a
    categorical choosing a branch, ranges that depend on earlier values. Each
    parameter is chosen at random among the values whose part of the space
    still holds untried combinations, so several workers spread over the space
    rather than racing for the same point. When every combination has been
    tried the study stops (Optuna's ``BruteForceSampler`` contract).

    The objective must be deterministic in what it asks: the same values so far
    lead to the same next parameter and range. Trials are matched by their
    parameter values, not by the order they were suggested in, so studies in any
    storage work alike.

    Args:
        seed: Seed of the random choice among untried values.
        avoid_premature_stop: Stop only when the trials that finished cover the
            space. By default a running trial counts as covering what it has
            suggested so far, so the study stops as soon as nothing is left to
            hand out, even while the last trials run.

    Raises:
        ValueError: (when a parameter is suggested) its domain is a continuous
            float range, which has no finite set of values to enumerate.
    """

    def __init__(self, seed: int | None = None, avoid_premature_stop: bool = False) -> None:
        self.seed = seed
        self.avoid_premature_stop = avoid_premature_stop
        self._rng = np.random.default_rng(seed)

    def reseed_rng(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        values = _values(name, distribution)
        prefix = _path(trial)
        finished: list[FrozenTrial] = []
        running: list[FrozenTrial] = []
        for other in _whole(study).get_trials(states=_SEEN):
            if other.number == trial.number or not _agrees(_path(other), prefix):
                continue
            (running if other.state == TrialState.RUNNING else finished).append(other)
        finished_paths = [_suffix(_path(t), prefix) for t in finished]
        every_path = finished_paths + [_suffix(_path(t), prefix) for t in running]
        # Prefer a value nobody holds, then one whose branch has room even counting the
        # running trials as done, then one with room once they finish, then any.
        for paths in (None, every_path, finished_paths):
            open_values = _open_values(name, distribution, values, paths, every_path)
            if open_values:
                return open_values[int(self._rng.integers(len(open_values)))]
        return values[int(self._rng.integers(len(values)))]

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        states = _FINISHED if self.avoid_premature_stop else _SEEN
        trials = _whole(study).get_trials(states=states)
        paths = [_path(t) for t in trials]
        if all(t.number != trial.number for t in trials):
            paths.append(_path(trial))
        if _covered(paths):
            study.stop()


def _whole(study: StudyView) -> StudyView:
    # A Hyperband bracket shows its sampler only the bracket's trials; the points already
    # tried are those of every bracket, or each bracket would enumerate the space again.
    return getattr(study, "whole_study", study)


def _values(name: str, distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, FloatDistribution) and distribution.step is None:
        if distribution.single():
            return [distribution.low]
        raise ValueError(
            f"BruteForceSampler needs a finite domain, but parameter {name!r} is a "
            f"continuous float range {distribution!r}: give it a step"
        )
    return grid_values(distribution)


def _key(distribution: BaseDistribution, value: Any) -> Hashable:
    """A value's identity: categorical choices by index, numbers up to float rounding."""
    if isinstance(distribution, CategoricalDistribution):
        return ("choice", int(distribution.to_internal(value)))
    number = float(value)
    return ("number", float(f"{number:.12g}") if math.isfinite(number) else number)


def _path(trial: FrozenTrial) -> _Path:
    return {
        name: (_key(trial.distributions[name], value), trial.distributions[name])
        for name, value in trial.params.items()
    }


def _agrees(path: _Path, prefix: _Path) -> bool:
    return all(name in path and path[name][0] == key for name, (key, _) in prefix.items())


def _suffix(path: _Path, prefix: _Path) -> _Path:
    return {name: entry for name, entry in path.items() if name not in prefix}


def _open_values(
    name: str,
    distribution: BaseDistribution,
    values: list[Any],
    paths: list[_Path] | None,
    every_path: list[_Path],
) -> list[Any]:
    """Values of ``name`` with room left; with ``paths=None``, those no trial holds."""
    held = {path[name][0] for path in every_path if name in path}
    if paths is None:
        return [v for v in values if _key(distribution, v) not in held]
    groups = _group(paths, name)
    return [v for v in values if not _covered(groups.get(_key(distribution, v), []))]


def _group(paths: list[_Path], name: str) -> dict[Hashable, list[_Path]]:
    groups: dict[Hashable, list[_Path]] = defaultdict(list)
    for path in paths:
        if name in path:
            groups[path[name][0]].append({k: e for k, e in path.items() if k != name})
    return groups


def _covered(paths: list[_Path]) -> bool:
    """Whether trials sharing a prefix (removed from ``paths``) tried all that follows it.

    A trial that asked nothing past the prefix shows the objective ends there. Else
    the next parameter is one every trial asked with the same distribution: in a
    deterministic objective the parameter asked right after the prefix is such a one,
    and branching on any such parameter first enumerates the same combinations.
    """
    if not paths:
        return False
    if any(not path for path in paths):
        return True
    branch = _shared_parameter(paths)
    if branch is None:
        return False
    name, distribution = branch
    groups = _group(paths, name)
    return all(_covered(groups.get(_key(distribution, v), [])) for v in _values(name, distribution))


def _shared_parameter(paths: list[_Path]) -> tuple[str, BaseDistribution] | None:
    first = paths[0]
    for name in sorted(first):
        distribution = first[name][1]
        if all(name in path and path[name][1] == distribution for path in paths):
            return name, distribution
    return None
