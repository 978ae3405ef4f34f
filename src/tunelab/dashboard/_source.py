"""Where the dashboard reads trials from: column reads for SQL storages, the storage API otherwise.

A SQL storage's :meth:`~tunelab.storage.BaseStorage.get_all_trials` rebuilds every
trial as an object, which takes tens of seconds at 100,000 trials of 20 parameters;
the dashboard needs columns (numbers, states, values) first and parameters later, so
on SQL it reads those columns with a few statements of its own, on the storage's own
connections. Any other storage is read through the public API.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tunelab.space import BaseDistribution, distribution_from_json
from tunelab.storage import BaseStorage, SQLStorage
from tunelab.trial import CONSTRAINTS_KEY, FAIL_REASON_KEY, FrozenTrial, constraints_of

_CHUNK = 500


class TrialRow(NamedTuple):
    """The columns of one trial that every chart and the table need."""

    trial_id: int
    number: int
    state: int
    values: list[float] | None
    start: float | None
    complete: float | None


class Source(ABC):
    """Reads of one study's trials, by changes and by columns."""

    @abstractmethod
    def changed(self, max_number: int, open_ids: Sequence[int]) -> list[TrialRow]:
        """Trials numbered above ``max_number`` and those of ``open_ids`` (maybe finished now)."""

    @abstractmethod
    def params(self, trial_ids: Sequence[int] | None) -> Iterable[tuple[int, str, float, Any]]:
        """(trial id, name, internal value, distribution) of these trials (None: all)."""

    def param_columns(self, by_id: dict[int, int], n: int) -> dict[str, tuple[Any, np.ndarray]]:
        """Every parameter of the first ``n`` trials as (distribution, internal values by number).

        ``by_id`` maps trial ids to numbers; a trial without the parameter holds NaN.
        """
        columns: dict[str, tuple[Any, np.ndarray]] = {}
        for trial_id, name, value, dist in self.params(None):
            number = by_id.get(trial_id)
            if number is None or number >= n:
                continue
            if name not in columns:
                columns[name] = (dist, np.full(n, np.nan))
            columns[name][1][number] = value
        return columns

    @abstractmethod
    def fail_reasons(self, trial_ids: Sequence[int]) -> dict[int, str]:
        """Why each of these failed trials failed, where recorded."""

    @abstractmethod
    def steps(self, trial_ids: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
        """Intermediate values of these trials, by step."""

    @abstractmethod
    def violations(self, trial_ids: Sequence[int] | None) -> dict[int, float]:
        """Total constraint violation (0: feasible) of these trials (None: all) that stored
        constraints."""


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _stamp(value: Any) -> float | None:
    return None if value is None else value.timestamp()


class ApiSource(Source):
    """Any storage, through :meth:`~tunelab.storage.BaseStorage.get_all_trials`."""

    def __init__(self, storage: BaseStorage, study_id: int) -> None:
        self._storage = storage
        self._study_id = study_id
        self._by_id: dict[int, FrozenTrial] = {}

    def changed(self, max_number: int, open_ids: Sequence[int]) -> list[TrialRow]:
        wanted = set(open_ids)
        rows = []
        for trial in self._storage.get_all_trials(self._study_id):
            if trial.number > max_number or trial.trial_id in wanted:
                self._by_id[trial.trial_id] = trial
                rows.append(
                    TrialRow(
                        trial.trial_id,
                        trial.number,
                        int(trial.state),
                        None if trial.values is None else list(trial.values),
                        _stamp(trial.datetime_start),
                        _stamp(trial.datetime_complete),
                    )
                )
        return rows

    def _trials(self, trial_ids: Sequence[int] | None) -> list[FrozenTrial]:
        if trial_ids is None:
            return list(self._by_id.values())
        return [self._by_id[i] for i in trial_ids if i in self._by_id]

    def params(self, trial_ids: Sequence[int] | None) -> Iterable[tuple[int, str, float, Any]]:
        for trial in self._trials(trial_ids):
            for name, value in trial.params.items():
                dist = trial.distributions[name]
                yield trial.trial_id, name, dist.to_internal(value), dist

    def fail_reasons(self, trial_ids: Sequence[int]) -> dict[int, str]:
        out = {}
        for trial in self._trials(trial_ids):
            reason = trial.system_attrs.get(FAIL_REASON_KEY)
            if reason is not None:
                out[trial.trial_id] = str(reason)
        return out

    def steps(self, trial_ids: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
        return {
            t.trial_id: sorted(t.intermediate_values.items())
            for t in self._trials(trial_ids)
            if t.intermediate_values
        }

    def violations(self, trial_ids: Sequence[int] | None) -> dict[int, float]:
        return {
            t.trial_id: violation
            for t in self._trials(trial_ids)
            if (violation := t.constraint_violation) is not None
        }


class SQLSource(Source):
    """A SQL storage's tables read by column, on the storage's own connection pool."""

    def __init__(self, storage: SQLStorage, study_id: int) -> None:
        self._db = storage._db
        self._mark = storage._sql.mark
        self._study_id = study_id
        self._dists: dict[str, BaseDistribution] = {}

    def _sql(self, text: str) -> str:
        return text if self._mark == "?" else text.replace("?", self._mark)

    def _read(self, text: str, params: Sequence[Any]) -> list[Any]:
        sql = self._sql(text)
        return self._db.read(lambda conn: list(conn.execute(sql, tuple(params)).fetchall()))

    def changed(self, max_number: int, open_ids: Sequence[int]) -> list[TrialRow]:
        columns = 'trial_id, number, state, "values", datetime_start, datetime_complete'
        rows = self._read(
            f"SELECT {columns} FROM tunelab_trials WHERE study_id = ? AND number > ?",
            (self._study_id, max_number),
        )
        for chunk in _chunks(sorted(open_ids)):
            marks = ", ".join("?" * len(chunk))
            rows += self._read(
                f"SELECT {columns} FROM tunelab_trials WHERE trial_id IN ({marks})", chunk
            )
        if not rows:
            return []
        # Column by column: one parse of all the values lists is three times faster than
        # one per row, and rows built from columns skip Python-level work per row.
        ids, numbers, states, texts, starts, completes = zip(*rows, strict=True)
        values = json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
        by_row = zip(ids, numbers, states, values, starts, completes, strict=True)
        return list(map(TrialRow._make, by_row))

    def _dist(self, text: str) -> BaseDistribution:
        dist = self._dists.get(text)
        if dist is None:
            dist = self._dists[text] = distribution_from_json(text)
        return dist

    def params(self, trial_ids: Sequence[int] | None) -> Iterable[tuple[int, str, float, Any]]:
        if trial_ids is None:
            rows = self._read(
                "SELECT p.trial_id, p.name, p.value, p.distribution FROM tunelab_trial_params p "
                "JOIN tunelab_trials t ON t.trial_id = p.trial_id WHERE t.study_id = ?",
                (self._study_id,),
            )
        else:
            rows = []
            for chunk in _chunks(list(trial_ids)):
                marks = ", ".join("?" * len(chunk))
                rows += self._read(
                    "SELECT trial_id, name, value, distribution FROM tunelab_trial_params "
                    f"WHERE trial_id IN ({marks})",
                    chunk,
                )
        for trial_id, name, value, text in rows:
            yield int(trial_id), name, float(value), self._dist(text)

    def param_columns(self, by_id: dict[int, int], n: int) -> dict[str, tuple[Any, np.ndarray]]:
        # Two million rows at 100,000 trials of 20 parameters: the columns are filled
        # with NumPy, not row by row in Python.
        kinds = self._read(
            "SELECT DISTINCT p.name, p.distribution FROM tunelab_trial_params p "
            "JOIN tunelab_trials t ON t.trial_id = p.trial_id WHERE t.study_id = ?",
            (self._study_id,),
        )
        codes = {name: code for code, name in enumerate(sorted({k[0] for k in kinds}))}
        dists = {name: self._dist(text) for name, text in sorted(kinds, reverse=True)}
        rows = self._read(
            "SELECT t.number, p.name, p.value FROM tunelab_trial_params p "
            "JOIN tunelab_trials t ON t.trial_id = p.trial_id "
            "WHERE t.study_id = ? AND t.number < ?",
            (self._study_id, n),
        )
        columns: dict[str, tuple[Any, np.ndarray]] = {}
        if not rows:
            return columns
        numbers, names, values = zip(*rows, strict=True)
        number = np.asarray(numbers, dtype=np.int64)
        code = np.asarray(list(map(codes.__getitem__, names)), dtype=np.int64)
        value = np.asarray(values, dtype=float)
        for name, c in codes.items():
            column = np.full(n, np.nan)
            pick = code == c
            column[number[pick]] = value[pick]
            columns[name] = (dists[name], column)
        return columns

    def fail_reasons(self, trial_ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(list(trial_ids)):
            marks = ", ".join("?" * len(chunk))
            rows = self._read(
                "SELECT trial_id, value FROM tunelab_trial_attrs WHERE system = ? AND key = ? "
                f"AND trial_id IN ({marks})",
                (True, FAIL_REASON_KEY, *chunk),
            )
            out.update({int(i): str(json.loads(v)) for i, v in rows})
        return out

    def steps(self, trial_ids: Sequence[int]) -> dict[int, list[tuple[int, float]]]:
        out: dict[int, list[tuple[int, float]]] = {}
        for chunk in _chunks(list(trial_ids)):
            marks = ", ".join("?" * len(chunk))
            rows = self._read(
                "SELECT trial_id, step, value FROM tunelab_trial_intermediate "
                f"WHERE trial_id IN ({marks}) ORDER BY trial_id, step",
                chunk,
            )
            for trial_id, step, value in rows:
                out.setdefault(int(trial_id), []).append(
                    (int(step), math.nan if value is None else float(value))
                )
        return out

    def violations(self, trial_ids: Sequence[int] | None) -> dict[int, float]:
        # Both formats count, as constraints_of reads them: the constraints_func list
        # and the named "constraints:<name>" attributes of Trial.set_constraint.
        select = "SELECT a.trial_id, a.key, a.value FROM tunelab_trial_attrs a "
        keys = "a.system = ? AND (a.key = ? OR a.key LIKE ?)"
        keyed = (True, CONSTRAINTS_KEY, CONSTRAINTS_KEY + ":%")
        if trial_ids is None:
            rows = self._read(
                select + "JOIN tunelab_trials t ON t.trial_id = a.trial_id "
                f"WHERE t.study_id = ? AND {keys}",
                (self._study_id, *keyed),
            )
        else:
            rows = []
            for chunk in _chunks(list(trial_ids)):
                marks = ", ".join("?" * len(chunk))
                rows += self._read(
                    select + f"WHERE {keys} AND a.trial_id IN ({marks})", (*keyed, *chunk)
                )
        attrs: dict[int, dict[str, Any]] = {}
        for trial_id, key, value in rows:
            attrs.setdefault(int(trial_id), {})[key] = json.loads(value)
        return {
            i: float(sum(max(float(c), 0.0) for c in constraints_of(a).values()))
            for i, a in attrs.items()
        }


def make_source(storage: BaseStorage, study_id: int) -> Source:
    """The fastest reader this storage allows."""
    if isinstance(storage, SQLStorage):
        return SQLSource(storage, study_id)
    return ApiSource(storage, study_id)


def study_names(storage: BaseStorage) -> list[str]:
    """Names of the storage's studies, oldest first, without reading their trials."""
    if isinstance(storage, SQLStorage):
        sql = "SELECT study_name FROM tunelab_studies ORDER BY study_id"
        return [r[0] for r in storage._db.read(lambda conn: conn.execute(sql).fetchall())]
    return [s.study_name for s in storage.get_all_studies()]
