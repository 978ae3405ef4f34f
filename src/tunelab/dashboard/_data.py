"""One study's trials as columns, kept up to date by reading only what changed.

Trials are numbered 0, 1, 2, ... within a study, so a trial's number is its row. A
refresh reads the trials numbered above the last one seen and those that were still
open (running or waiting); finished trials never change. Each refresh that finds
something bumps the study's *cursor*, and every row remembers the cursor at which it
last changed, so "what changed since cursor X" is a short scan of a log.

Parameters (the widest part: 20 columns of 100,000 rows are 2,000,000 stored rows)
are read on first use, not before the first page is drawn, and then kept current by
the same refreshes.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from typing import Any

import numpy as np

from tunelab.dashboard._source import Source, TrialRow, make_source
from tunelab.space import BaseDistribution
from tunelab.storage import BaseStorage
from tunelab.trial import StudyDirection, TrialState

# Polls closer together than this share one read of the storage.
MIN_REFRESH_SECONDS = 0.03


class StudyData:
    """Columns of one study's trials; thread-safe.

    Args:
        storage: The storage holding the study.
        study_id: The study's id.
        name: The study's name.
        directions: Its optimisation directions.
    """

    def __init__(
        self,
        storage: BaseStorage,
        study_id: int,
        name: str,
        directions: list[StudyDirection],
    ) -> None:
        self.storage = storage
        self.study_id = study_id
        self.name = name
        self.directions = directions
        self._source: Source = make_source(storage, study_id)
        self.lock = threading.RLock()
        self.cursor = 0
        self.trial_id: list[int] = []
        self._columns = _Columns()
        self._columns.add("state", -1)
        self._columns.add("changed_at", 0)
        for key in ("start", "complete", *(f"value{k}" for k in range(len(directions)))):
            self._columns.add(key, math.nan)
        self._log: list[tuple[int, list[int]]] = []  # (cursor, numbers changed at it)
        self._open: dict[int, int] = {}  # trial id -> number
        self._by_id: dict[int, int] = {}
        self.fail_reason: dict[int, str] = {}
        self.params_loaded = False
        self.dists: dict[str, BaseDistribution] = {}
        self._params_lock = threading.Lock()
        self.violations_loaded = False
        self._last_refresh = 0.0

    # -- reading --
    @property
    def n(self) -> int:
        """How many trials the study has (as of the last refresh)."""
        return self._columns.n

    def number_of(self, trial_id: int) -> int:
        """The number of a trial of this study, by id."""
        return self._by_id[trial_id]

    def refresh(self, *, force: bool = False) -> int:
        """Read new and changed trials; returns the cursor after the read."""
        with self.lock:
            now = time.monotonic()
            if not force and now - self._last_refresh < MIN_REFRESH_SECONDS:
                return self.cursor
            rows = self._source.changed(self.n - 1, list(self._open))
            self._last_refresh = time.monotonic()
            if rows:
                self._apply(rows)
            return self.cursor

    def _apply(self, rows: list[TrialRow]) -> None:
        n = self.n
        state = self._columns.cols["state"]
        batch = [r for r in rows if r.number < n and state[r.number] != r.state]
        # Numbers are committed in order; a gap is read again at the next refresh.
        expected = n
        for r in sorted((r for r in rows if r.number >= n), key=lambda r: r.number):
            if r.number != expected:
                break
            batch.append(r)
            expected += 1
        if not batch:
            return
        self.cursor += 1
        added = [r for r in batch if r.number >= n]
        self._columns.grow(len(added))
        for r in added:
            self._by_id[r.trial_id] = len(self.trial_id)
            self.trial_id.append(r.trial_id)
        cols = self._columns.cols
        numbers = np.fromiter((r.number for r in batch), dtype=np.int64, count=len(batch))
        cols["state"][numbers] = [r.state for r in batch]
        cols["changed_at"][numbers] = self.cursor
        cols["start"][numbers] = [math.nan if r.start is None else r.start for r in batch]
        cols["complete"][numbers] = [math.nan if r.complete is None else r.complete for r in batch]
        for k in range(len(self.directions)):
            cols[f"value{k}"][numbers] = [
                r.values[k] if r.values is not None and k < len(r.values) else math.nan
                for r in batch
            ]
        for r in batch:
            if r.state in _OPEN:
                self._open[r.trial_id] = r.number
            else:
                self._open.pop(r.trial_id, None)
        self._log.append((self.cursor, [r.number for r in batch]))
        failed = [r.trial_id for r in batch if r.state == _FAIL]
        if failed:
            self.fail_reason.update(self._source.fail_reasons(failed))
        if self.params_loaded:
            self._read_params([r.trial_id for r in batch])
        if self.violations_loaded:
            self._read_violations([r.trial_id for r in batch if r.state not in _OPEN])

    def changes_since(self, cursor: int) -> list[int]:
        """Numbers of the trials that changed after ``cursor``, oldest change first."""
        with self.lock:
            start = bisect.bisect_right(self._log, cursor, key=lambda item: item[0])
            seen: dict[int, None] = {}
            for _, numbers in self._log[start:]:
                seen.update(dict.fromkeys(numbers))
            changed_at = self._columns.cols["changed_at"]
            return [n for n in seen if changed_at[n] > cursor]

    # -- parameters --
    def ensure_params(self) -> None:
        """Read every trial's parameters once (later refreshes keep them current)."""
        if self.params_loaded:
            return
        with self._params_lock:
            if self.params_loaded:
                return
            with self.lock:
                n = self.n
                by_id = dict(self._by_id)
            read = self._source.param_columns(by_id, n)
            with self.lock:
                for name, (dist, column) in read.items():
                    self.dists[name] = dist
                    self._columns.add(f"param:{name}", math.nan)
                    self._columns.cols[f"param:{name}"][:n] = column
                # Trials added, or still open, while the columns were read are read again.
                late = [self.trial_id[i] for i in range(n, self.n)]
                late += [i for i, number in self._open.items() if number < n]
                self.params_loaded = True
                self._read_params(late)

    def _read_params(self, trial_ids: list[int]) -> None:
        cols = self._columns.cols
        for trial_id, name, value, dist in self._source.params(trial_ids):
            key = f"param:{name}"
            if key not in cols:
                self._columns.add(key, math.nan)
                self.dists[name] = dist
            cols[key][self._by_id[trial_id]] = value

    # -- constraints --
    def ensure_violations(self) -> None:
        """Read every trial's constraint violation once (later refreshes add new ones).

        The ``violation`` column holds each trial's total violation (0: feasible) and
        NaN where no constraints were stored.
        """
        with self.lock:
            if self.violations_loaded:
                return
            self._columns.add("violation", math.nan)
            found = self._source.violations(None)
            column = self._columns.cols["violation"]
            for trial_id, violation in found.items():
                number = self._by_id.get(trial_id)
                if number is not None:
                    column[number] = violation
            self.violations_loaded = True

    def _read_violations(self, trial_ids: list[int]) -> None:
        if not trial_ids:
            return
        column = self._columns.cols["violation"]
        for trial_id, violation in self._source.violations(trial_ids).items():
            column[self._by_id[trial_id]] = violation

    def params_of(self, numbers: list[int]) -> dict[int, dict[str, Any]]:
        """External parameter values of a few trials, read from the storage if not cached."""
        with self.lock:
            ids = {self.trial_id[n]: n for n in numbers}
        out: dict[int, dict[str, Any]] = {n: {} for n in numbers}
        for trial_id, name, value, dist in self._source.params(list(ids)):
            out[ids[trial_id]][name] = external(dist, value)
            self.dists.setdefault(name, dist)
        return out

    def steps(self, numbers: list[int]) -> dict[int, list[tuple[int, float]]]:
        """Intermediate values of these trials."""
        with self.lock:
            ids = {self.trial_id[n]: n for n in numbers}
        return {ids[i]: v for i, v in self._source.steps(list(ids)).items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """The columns as NumPy arrays of length :attr:`n` (views: do not modify)."""
        with self.lock:
            return self._columns.view()


class _Columns:
    """NumPy columns of one length that grow by doubling, so appends cost O(1) on average."""

    def __init__(self) -> None:
        self.n = 0
        self.cols: dict[str, np.ndarray] = {}
        self._fill: dict[str, float] = {}

    def add(self, key: str, fill: float) -> None:
        capacity = len(next(iter(self.cols.values()))) if self.cols else 0
        dtype = np.int64 if key in ("state", "changed_at") else float
        self.cols[key] = np.full(capacity, fill, dtype=dtype)
        self._fill[key] = fill

    def grow(self, extra: int) -> None:
        need = self.n + extra
        capacity = len(next(iter(self.cols.values())))
        if need > capacity:
            size = max(need, 2 * capacity, 64)
            for key, old in self.cols.items():
                new = np.full(size, self._fill[key], dtype=old.dtype)
                new[: self.n] = old[: self.n]
                self.cols[key] = new
        self.n = need

    def view(self) -> dict[str, np.ndarray]:
        return {key: column[: self.n] for key, column in self.cols.items()}


_OPEN = (int(TrialState.RUNNING), int(TrialState.WAITING))
_FAIL = int(TrialState.FAIL)


def external(dist: BaseDistribution, internal: float) -> Any:
    """The value a user sees for an internal parameter value (NaN: not set)."""
    if math.isnan(internal):
        return None
    value = dist.to_external(internal)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class StudyCache:
    """The :class:`StudyData` of every study of a storage, made on first use."""

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage
        self._studies: dict[str, StudyData] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> StudyData:
        """The study's data, refreshed (raises StudyNotFoundError for an unknown name)."""
        with self._lock:
            data = self._studies.get(name)
            if data is None:
                study_id = self.storage.get_study_id_from_name(name)
                directions = self.storage.get_study_directions(study_id)
                data = self._studies[name] = StudyData(self.storage, study_id, name, directions)
        data.refresh()
        return data

    def forget(self, name: str) -> None:
        """Drop a study's data (it was deleted or renamed)."""
        with self._lock:
            self._studies.pop(name, None)
