"""The observations of one study, encoded once and kept in growing numpy columns.

Finished trials never change, so each is encoded the first time it is seen
finished; every later ask only looks at the trials that are new or were still
running. The search spaces TPE needs (the intersection of all finished
trials' parameters, and its grouped decomposition) are updated the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tunelab.samplers._tpe import _ranking
from tunelab.samplers._tpe._axes import axis_for
from tunelab.space import BaseDistribution
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:
    from tunelab.study import StudyView

ColumnKey = tuple[str, BaseDistribution]

_INITIAL_CAPACITY = 64


class History:
    """Encoded COMPLETE and PRUNED trials of one study, in trial-number order.

    Args:
        directions: The study's directions (values are stored as minimised).
        constrained: Rank feasible trials first (their stored constraints all
            ``<= 0``), then infeasible ones by their total violation; a trial
            without stored constraints counts as infinitely infeasible.
    """

    def __init__(self, directions: Sequence[StudyDirection], *, constrained: bool = False) -> None:
        self.directions = list(directions)
        self.constrained = constrained
        self._signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
        self.n_rows = 0
        self._capacity = _INITIAL_CAPACITY
        self._numbers = np.zeros(self._capacity, dtype=np.int64)
        self._kind = np.zeros(self._capacity, dtype=np.int8)
        self._step = np.zeros(self._capacity)
        self._values = np.zeros((self._capacity, len(directions)))
        self._violation = np.zeros(self._capacity)
        self._columns: dict[ColumnKey, np.ndarray] = {}
        self._seen = 0
        self._last_seen_number = -1
        self._open: list[int] = []
        self._unsorted = False
        self.running: list[FrozenTrial] = []
        self._dists: dict[str, BaseDistribution | None] = {}
        self._intersection: dict[str, BaseDistribution] | None = None
        self._groups: list[frozenset[str]] = []
        self._version = 0
        self._cache: dict[object, tuple[int, object]] = {}
        # Per numeric column: (rows covered, rows with a value sorted by it), kept
        # up to date by insertion so no ask sorts a whole column.
        self._orders: dict[ColumnKey, tuple[int, np.ndarray]] = {}

    # -- updating ---------------------------------------------------------------------------
    def sync(self, trials: Sequence[FrozenTrial]) -> bool:
        """Take in trials that finished since the last call; False if the history must restart.

        ``trials`` is the study's full list, ordered by number (positions are numbers).
        """
        if len(trials) < self._seen or (
            self._seen and trials[self._seen - 1].number != self._last_seen_number
        ):
            return False
        still_open: list[int] = []
        running: list[FrozenTrial] = []
        for position in [*self._open, *range(self._seen, len(trials))]:
            trial = trials[position]
            if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                self._add(trial)
            elif not trial.state.is_finished():
                still_open.append(position)
                if trial.state == TrialState.RUNNING:
                    running.append(trial)
        self._open, self.running = still_open, running
        if trials:
            self._seen, self._last_seen_number = len(trials), trials[-1].number
        if self._unsorted:
            self._sort_rows()
        return True

    def add_observations(self, observations: Sequence[tuple[FrozenTrial, float | None]]) -> None:
        """Take in trials as completed observations of the given values, not their own.

        A budget-aware sampler models the value each trial had at one budget
        (running and pruned trials included): it adds those pairs to a fresh
        history and draws from it as TPE does. A pair with None takes in a
        finished trial as it finished (a pruned one ranks after every value).
        Single objective only.
        """
        for trial, value in observations:
            self._add(trial, None if value is None else np.array([value]) * self._signs)
        if self._unsorted:
            self._sort_rows()

    def _add(self, trial: FrozenTrial, values: np.ndarray | None = None) -> None:
        row = self.n_rows
        if row == self._capacity:
            self._grow()
        self._unsorted |= row > 0 and trial.number < self._numbers[row - 1]
        self._numbers[row] = trial.number
        if values is None:
            self._kind[row], self._step[row], self._values[row] = self._score(trial)
        else:
            self._kind[row], self._step[row], self._values[row] = _ranking.COMPLETE, 0.0, values
        if self.constrained:
            violation = trial.constraint_violation
            self._violation[row] = np.inf if violation is None else violation
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            if dist.single():
                continue  # nothing to model: such parameters are never sampled
            column = self._columns.get((name, dist))
            if column is None:
                column = self._columns[(name, dist)] = np.full(self._capacity, np.nan)
            column[row] = axis_for(dist).encode(dist.to_internal(value))
        self.n_rows += 1
        self._version += 1
        self._update_spaces(trial)

    def _score(self, trial: FrozenTrial) -> tuple[int, float, np.ndarray]:
        """(kind, last step, minimised values): the sort keys of a row."""
        if trial.state == TrialState.COMPLETE:
            assert trial.values is not None
            return _ranking.COMPLETE, 0.0, np.asarray(trial.values) * self._signs
        step = trial.last_step
        if trial.values is None:
            return _ranking.PRUNED, -1.0, np.full(len(self._signs), np.inf)
        return (
            _ranking.PRUNED,
            float(-1 if step is None else step),
            np.asarray(trial.values) * self._signs,
        )

    def _grow(self) -> None:
        self._capacity *= 2
        self._numbers = _resized(self._numbers, self._capacity, 0)
        self._kind = _resized(self._kind, self._capacity, 0)
        self._step = _resized(self._step, self._capacity, 0.0)
        self._values = _resized(self._values, self._capacity, 0.0)
        self._violation = _resized(self._violation, self._capacity, 0.0)
        self._columns = {k: _resized(c, self._capacity, np.nan) for k, c in self._columns.items()}

    def _sort_rows(self) -> None:
        """Put rows back in trial-number order after trials finished out of order.

        Row order decides ties and the order of mixture components, so it must
        depend only on the history, not on when the sampler happened to look.
        """
        order = np.argsort(self._numbers[: self.n_rows], kind="stable")
        arrays: list[np.ndarray] = [
            self._numbers,
            self._kind,
            self._step,
            self._values,
            self._violation,
        ]
        for array in [*arrays, *self._columns.values()]:
            array[: self.n_rows] = array[order]
        self._unsorted = False
        self._version += 1
        self._orders.clear()  # they hold row indices, which just moved

    def _update_spaces(self, trial: FrozenTrial) -> None:
        names = frozenset(trial.params)
        for name, dist in trial.distributions.items():
            if self._dists.setdefault(name, dist) != dist:
                self._dists[name] = None
        if self._intersection is None:
            self._intersection = dict(trial.distributions)
        else:
            self._intersection = {
                n: d for n, d in self._intersection.items() if trial.distributions.get(n) == d
            }
        # Split every group by this trial's parameters: groups end up as the
        # sets of parameters that always appear together.
        refined = [part for g in self._groups for part in (g & names, g - names) if part]
        covered = frozenset().union(*self._groups)
        if names - covered:
            refined.append(names - covered)
        self._groups = refined

    # -- reading ----------------------------------------------------------------------------
    def intersection_space(self) -> dict[str, BaseDistribution]:
        """Parameters every observation has, with one distribution, sorted by name."""
        space = self._intersection or {}
        return {n: d for n, d in sorted(space.items()) if not d.single()}

    def grouped_space(self) -> list[dict[str, BaseDistribution]]:
        """Groups of parameters that always occur together, each sorted by name.

        A parameter seen with two distributions is left out: it is sampled on
        its own from the observations that share the distribution asked for.
        """
        groups = []
        for group in self._groups:
            dists = {n: self._dists[n] for n in sorted(group)}
            kept = {n: d for n, d in dists.items() if d is not None and not d.single()}
            if kept:
                groups.append(kept)
        return sorted(groups, key=lambda g: next(iter(g)))

    def rows_with(self, keys: Sequence[ColumnKey]) -> np.ndarray:
        """Indices of the rows that have every column of ``keys``."""
        cache_key = ("rows", tuple(keys))
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self._version:
            return hit[1]  # type: ignore[return-value]
        mask = np.ones(self.n_rows, dtype=bool)
        for key in keys:
            column = self._columns.get(key)
            if column is None:
                return np.empty(0, dtype=np.intp)
            mask &= ~np.isnan(column[: self.n_rows])
        rows = np.flatnonzero(mask)
        self._cache[cache_key] = (self._version, rows)
        return rows

    def sorted_rows(self, key: ColumnKey) -> np.ndarray:
        """Rows that have column ``key``, ordered by its value (ties by row)."""
        covered, order = self._orders.get(key, (0, np.empty(0, dtype=np.intp)))
        if covered < self.n_rows:
            column = self._columns[key]
            new = np.arange(covered, self.n_rows)
            new = new[~np.isnan(column[new])]
            new = new[np.argsort(column[new], kind="stable")]
            where = np.searchsorted(column[order], column[new], side="right")
            order = np.insert(order, where, new)
            self._orders[key] = (self.n_rows, order)
        return order

    def column(self, key: ColumnKey, rows: np.ndarray) -> np.ndarray:
        """The encoded values of one column at ``rows``."""
        return self._columns[key][rows]

    def split(self, rows: np.ndarray, n_good: int) -> tuple[np.ndarray, np.ndarray]:
        """The good and the other rows among ``rows``, both in trial-number order.

        The good ones are those among the ``n_good`` best of all observations,
        so a conditional group is modelled by where the study's best trials
        put it, not by the best of the trials that happened to take it.
        """
        is_good = self._good_mask(n_good)[rows]
        return rows[is_good], rows[~is_good]

    def _good_mask(self, n_good: int) -> np.ndarray:
        cache_key = ("good", n_good)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] == self._version:
            return hit[1]  # type: ignore[return-value]
        n = self.n_rows
        rows: np.ndarray | slice = slice(0, n)
        if self.constrained:
            # Feasible rows compete by value; the rest of the good set is filled
            # with the least infeasible rows.
            violation = self._violation[:n]
            rows = np.flatnonzero(violation == 0.0)
            infeasible = np.flatnonzero(violation > 0.0)
            fill = infeasible[np.argsort(violation[infeasible], kind="stable")]
            n_good_feasible = min(n_good, len(rows))
        good = self._best_rows(rows, n_good_feasible if self.constrained else n_good)
        if self.constrained and len(good) < n_good:
            good = np.concatenate([good, fill[: n_good - len(good)]])
        mask = np.zeros(n, dtype=bool)
        mask[good] = True
        self._cache[cache_key] = (self._version, mask)
        return mask

    def _best_rows(self, rows: np.ndarray | slice, n_good: int) -> np.ndarray:
        """The ``n_good`` best of ``rows`` (indices, or a slice from 0) by value or Pareto rank."""
        if n_good == 0:
            return np.empty(0, dtype=np.intp)
        kind, values = self._kind[rows], self._values[rows]
        if len(self.directions) == 1:
            picked = _ranking.best_rows_single(kind, self._step[rows], values[:, 0], n_good)
        else:
            picked = _ranking.best_rows_multi(kind, values, n_good)
        return picked if isinstance(rows, slice) else rows[picked]


class HistoryCache:
    """The history of the study a sampler last read, brought up to date at each read.

    One study's history is kept: a sampler moved to another study (or to a
    reloaded one, which has another view) starts a fresh history.
    """

    def __init__(self) -> None:
        self._cached: tuple[tuple[str, int], History] | None = None

    def get(self, study: StudyView, *, constrained: bool = False) -> History:
        """The history of ``study``'s COMPLETE and PRUNED trials, up to date.

        Args:
            study: The study.
            constrained: Passed to a new :class:`History`.
        """
        trials = study.get_trials()
        key = (study.study_name, id(study))
        history = self._cached[1] if self._cached and self._cached[0] == key else None
        if history is None or history.directions != study.directions or not history.sync(trials):
            history = History(study.directions, constrained=constrained)
            history.sync(trials)
            self._cached = (key, history)
        return history


def _resized(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    out = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out
