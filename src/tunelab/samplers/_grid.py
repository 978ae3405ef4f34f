"""Exhaustive search over every combination of given values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.samplers._base import BaseSampler
from tunelab.space import BaseDistribution, iter_grid
from tunelab.trial import FIXED_PARAMS_KEY, FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView


def _key(params: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...] | None:
    if any(name not in params for name in names):
        return None
    return tuple(params[name] for name in names)


class GridSampler(BaseSampler):
    """Visit every point of a grid once, then stop the study.

    Points are visited in a seeded random order. A trial's point follows from
    its number, which storages make unique across workers, so parallel workers
    (threads, processes or machines) start on different points; a worker falls
    back to the next unvisited point only after failures or queued trials.

    Args:
        search_space: Parameter name to the list of values to try.
        seed: Seed of the visiting order.

    Raises:
        ValueError: A parameter has no values.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], *, seed: int | None = None) -> None:
        for name, values in search_space.items():
            if isinstance(values, str) or len(values) == 0:
                raise ValueError(f"search_space[{name!r}] must be a non-empty list of values")
        self.search_space = {name: list(values) for name, values in search_space.items()}
        self.seed = seed
        self._names = sorted(self.search_space)
        self._grid = iter_grid(self.search_space)
        self._keys = [_key(point, self._names) for point in self._grid]
        self._order = np.random.default_rng(seed).permutation(len(self._grid))
        self._assigned: dict[int, int] = {}  # trial number -> grid index, this process

    @property
    def n_points(self) -> int:
        """How many points the grid has."""
        return len(self._grid)

    def _taken(self, study: StudyView) -> set[int]:
        """Grid points that a finished (not failed), running or queued trial holds."""
        index_of = {key: i for i, key in enumerate(self._keys)}
        taken = set()
        for trial in study.get_trials():
            if trial.state == TrialState.FAIL:
                continue
            params = {**trial.params, **trial.system_attrs.get(FIXED_PARAMS_KEY, {})}
            key = _key(params, self._names)
            if key in index_of:
                taken.add(index_of[key])
        open_numbers = {t.number for t in study.get_trials(states=(TrialState.RUNNING,))}
        taken.update(i for n, i in self._assigned.items() if n in open_numbers)
        return taken

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        if FIXED_PARAMS_KEY in trial.system_attrs:
            return
        taken = self._taken(study)
        n = len(self._grid)
        start = trial.number % n
        for offset in range(n):
            index = int(self._order[(start + offset) % n])
            if index not in taken:
                break
        else:
            index = int(self._order[start])
        self._assigned[trial.number] = index
        if len(taken | {index}) >= n:
            study.stop()

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        if name not in self.search_space:
            raise ValueError(
                f"parameter {name!r} is not in the GridSampler's search space {self._names}"
            )
        if trial.number not in self._assigned:
            self.before_trial(study, trial)
        value = self._grid[self._assigned[trial.number]][name]
        internal = distribution.to_internal(value)
        if not distribution.contains(internal):
            raise ValueError(f"grid value {value!r} of {name!r} is outside {distribution!r}")
        return value

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._assigned.pop(trial.number, None)
        if len(self._taken(study)) >= len(self._grid):
            study.stop()

