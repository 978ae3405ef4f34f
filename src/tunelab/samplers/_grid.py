"""Exhaustive search over every combination of given values."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from tunelab.samplers._base import BaseSampler
from tunelab.space import BaseDistribution, CategoricalDistribution, iter_grid
from tunelab.trial import FIXED_PARAMS_KEY, FrozenTrial, TrialState

# What a grid lists for a parameter (Optuna's name for it, which plugins annotate with).
GridValueType: TypeAlias = str | float | int | bool | None

# The system attribute where a trial publishes the grid point it holds, before its
# parameters are stored, so that workers in other processes do not take it too.
GRID_POINT_KEY = "grid_point"

if TYPE_CHECKING:
    from tunelab.study import Study, StudyView


def _same_choice(a: Any, b: Any) -> bool:
    """Equal as categorical choices: of one type (True, 1 and 1.0 are three choices)."""
    return type(a) is type(b) and a == b


def _same_number(a: Any, b: Any) -> bool:
    """Equal as numbers: a float parameter stores a grid value of 1 as 1.0."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _grid_seed(search_space: Mapping[str, Sequence[Any]]) -> int:
    """A seed that every process derives alike from the grid's content."""
    text = repr(sorted((k, [(type(v).__name__, v) for v in vs]) for k, vs in search_space.items()))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class GridSampler(BaseSampler):
    """Visit every point of a grid once, then stop the study.

    Points are visited in a seeded random order. A trial's point follows from
    its number, which storages make unique across workers, so parallel workers
    (threads, processes or machines) that share the order start on different
    points; a worker falls back to the next unvisited point only after failures
    or queued trials. A queued trial that fixes only some parameters gets an
    unvisited point that agrees with them where one exists.

    Args:
        search_space: Parameter name to the list of values to try.
        seed: Seed of the visiting order; workers sharing a study need the same
            one. None derives the order from the grid itself, so that unseeded
            workers agree.

    Raises:
        ValueError: A parameter has no values or lists one twice.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        for name, values in search_space.items():
            if isinstance(values, str) or len(values) == 0:
                raise ValueError(f"search_space[{name!r}] must be a non-empty list of values")
            if any(_same_choice(v, w) for i, v in enumerate(values) for w in values[:i]):
                # A repeated point could never be marked visited, so the study would not stop.
                raise ValueError(f"search_space[{name!r}] lists a value twice: {list(values)!r}")
        self.search_space = {name: list(values) for name, values in search_space.items()}
        self.seed = seed
        self._names = sorted(self.search_space)
        self._grid = iter_grid(self.search_space)
        # Grid points are identified by the position of each value in its list.
        self._index_of = {
            tuple(self._position(name, point[name], None) for name in self._names): i
            for i, point in enumerate(self._grid)
        }
        order_seed = _grid_seed(self.search_space) if seed is None else seed
        self._order = np.random.default_rng(order_seed).permutation(len(self._grid))
        self._assigned: dict[int, int] = {}  # trial number -> grid index, this process

    @property
    def n_points(self) -> int:
        """How many points the grid has."""
        return len(self._grid)

    def is_exhausted(self, study: StudyView | Study) -> bool:
        """Whether every grid point has a finished trial (a failed one does not count).

        Failed points are visited again, so a study whose grid trials failed is
        not exhausted until they are rerun.

        Args:
            study: The study the sampler runs in.
        """
        taken, busy = self._holds(study)
        return len(taken - busy) >= len(self._grid)

    def _position(self, name: str, value: Any, dist: BaseDistribution | None) -> int | None:
        """Where ``value`` sits in the list of ``name``; ``dist`` says how to compare."""
        values = self.search_space[name]
        if dist is None or isinstance(dist, CategoricalDistribution):
            for i, candidate in enumerate(values):
                if _same_choice(candidate, value):
                    return i
        if not isinstance(dist, CategoricalDistribution):
            for i, candidate in enumerate(values):
                if _same_number(candidate, value):
                    return i
        return None

    def _point_of(self, trial: FrozenTrial) -> int | None:
        """The grid point a trial holds: its values, its queued values or its claim."""
        fixed = trial.system_attrs.get(FIXED_PARAMS_KEY, {})
        claimed = trial.system_attrs.get(GRID_POINT_KEY)
        if isinstance(claimed, int) and 0 <= claimed < len(self._grid):
            return claimed
        positions = []
        for name in self._names:
            if name in trial.params:
                positions.append(
                    self._position(name, trial.params[name], trial.distributions.get(name))
                )
            elif name in fixed:
                positions.append(self._position(name, fixed[name], None))
            else:
                return None
        return self._index_of.get(tuple(positions))

    def _holds(
        self, study: StudyView | Study, *, besides: int | None = None
    ) -> tuple[set[int], set[int]]:
        """The grid points trials hold: all of them, and those of unfinished trials.

        A trial holds a point when it is finished (not failed), running or
        queued; a running trial of this process holds the point assigned to it.

        Args:
            study: The study.
            besides: A trial number whose own hold is left out.
        """
        taken: set[int] = set()
        busy: set[int] = set()
        for trial in study.get_trials():
            if trial.state == TrialState.FAIL or trial.number == besides:
                continue
            point = self._point_of(trial)
            if point is None and trial.state == TrialState.RUNNING:
                point = self._assigned.get(trial.number)
            if point is not None:
                taken.add(point)
                if not trial.state.is_finished():
                    busy.add(point)
        return taken, busy

    def claim(self, study: StudyView, trial: FrozenTrial) -> dict[str, Any] | None:
        """Publish the trial's grid point; move to a free one if another trial holds it.

        Another process may have chosen the same point before either trial's
        parameters were stored. Both claims are written before they are
        checked, so at least one of the two sees the other and moves. Once
        every point is held, a trial repeats a finished point (as Optuna's
        grid does), never one that another trial is running.
        """
        index = self._assigned.get(trial.number)
        if index is None:
            return None  # a queued trial whose values are all fixed
        if trial.system_attrs.get(GRID_POINT_KEY) != index:
            return {GRID_POINT_KEY: index}
        taken, busy = self._holds(study, besides=trial.number)
        if index not in taken:
            return None
        exhausted = len(taken) >= len(self._grid)
        if exhausted and (index not in busy or len(busy) >= len(self._grid)):
            return None
        fixed = trial.system_attrs.get(FIXED_PARAMS_KEY, {})
        self._assigned[trial.number] = self._choose(trial.number, taken, busy, fixed)
        return {GRID_POINT_KEY: self._assigned[trial.number]}

    def before_trial(self, study: StudyView, trial: FrozenTrial) -> None:
        fixed = trial.system_attrs.get(FIXED_PARAMS_KEY, {})
        if all(name in fixed for name in self._names):
            return
        taken, busy = self._holds(study)
        index = self._choose(trial.number, taken, busy, fixed)
        self._assigned[trial.number] = index
        if len(taken | {index}) >= len(self._grid):
            study.stop()

    def _choose(
        self, number: int, taken: set[int], busy: set[int], fixed: Mapping[str, Any]
    ) -> int:
        """The first free point in visiting order from ``number``, agreeing with ``fixed``.

        With no point free, the first one no unfinished trial holds.
        """
        n = len(self._grid)
        wanted = {
            name: self._position(name, value, None)
            for name, value in fixed.items()
            if name in self.search_space
        }
        first_free = first_idle = None
        for offset in range(n):
            index = int(self._order[(number + offset) % n])
            if index not in busy and first_idle is None:
                first_idle = index
            if index in taken:
                continue
            point = self._grid[index]
            if all(self._position(k, point[k], None) == pos for k, pos in wanted.items()):
                return index
            if first_free is None:
                first_free = index
        if first_free is not None:
            return first_free
        return int(self._order[number % n]) if first_idle is None else first_idle

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
        # The grid is the user's explicit choice: use its value even where the
        # objective's range does not hold it, as Optuna does, and say so.
        if not distribution.contains(distribution.to_internal(value)):
            warnings.warn(
                f"grid value {value!r} of {name!r} is outside {distribution!r}; using it anyway",
                UserWarning,
                stacklevel=2,
            )
        return value

    def after_trial(
        self,
        study: StudyView,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._assigned.pop(trial.number, None)
        if len(self._holds(study)[0]) >= len(self._grid):
            study.stop()
