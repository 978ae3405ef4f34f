"""SQL storage: SQLite (the embedded default) and PostgreSQL.

Design notes:

* Each state change is one transaction. On SQLite every write transaction
  starts with ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
  instead of failing mid-transaction, and the database runs in WAL mode so
  readers never block writers.
* The statements are SQL text built once per database kind
  (:mod:`._sql_statements`) and run on DBAPI connections with bound
  parameters (:mod:`._sql_database`); SQLAlchemy opens the database and
  manages the schema. A write into a trial is one statement that carries its
  own "is the trial still open?" test, so an ask+tell with five parameters
  is seven small transactions and one indexed read.
* Trial numbers are assigned under a lock on the study's row (``FOR UPDATE``
  on PostgreSQL, the database write lock on SQLite), so trial ids and numbers
  of one study are committed in the same order.
* Finished trials never change, so each reader caches them and asks the
  database only for trials that are new or were unfinished at its last read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tunelab.exceptions import (
    DuplicatedStudyError,
    SchemaVersionError,
    StorageError,
    StudyNotFoundError,
    UpdateFinishedTrialError,
)
from tunelab.space import BaseDistribution, distribution_from_json
from tunelab.storage import _schema as s
from tunelab.storage._base import (
    BaseStorage,
    StudySummary,
    TrialLimitReached,
    check_new_trial_attrs,
    check_param_name,
    check_values,
    dumps_json,
    fail_reason_attrs,
    limit_reason,
    retry_attrs,
    stale_reason,
)
from tunelab.storage._sql_database import ConstraintError, Database
from tunelab.storage._sql_statements import LoadStatements
from tunelab.trial import FrozenTrial, StudyDirection, TrialState


def _utc(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC)


_FINISHED = tuple(state for state in TrialState if state.is_finished())


@dataclass
class _TrialCache:
    """Trials of one study as last read; finished ones are final."""

    ordered: list[FrozenTrial] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)  # trial id -> position in ordered
    open_ids: set[int] = field(default_factory=set)
    max_number: int = -1  # numbers are committed in order, like the trials' ids


class SQLStorage(BaseStorage):
    """Studies in a SQL database: ``sqlite:///path.db`` or ``postgresql+psycopg://...``.

    Args:
        url: SQLAlchemy database URL. For SQLite, ``?synchronous=FULL`` makes
            every commit survive power loss too (default NORMAL survives
            process crashes, at a fraction of the cost).
        engine_kwargs: Extra arguments for :func:`sqlalchemy.create_engine`.

    Raises:
        StorageError: The database cannot be reached.
        SchemaVersionError: The database holds another version of the schema.
    """

    def __init__(self, url: str, *, engine_kwargs: dict[str, Any] | None = None) -> None:
        self.url = url
        try:
            self._db = Database(url, engine_kwargs or {})
            _ensure_schema(self._db.engine, url)
        except sa.exc.ArgumentError as exc:
            raise StorageError(f"invalid storage URL {url!r}: {exc}") from None
        except (sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StorageError(
                f"storage URL {url!r} needs a database driver that is not installed ({exc}); "
                "for PostgreSQL: pip install 'tunelab[postgres]'"
            ) from None
        except sa.exc.OperationalError as exc:
            raise StorageError(f"cannot open storage {url!r}: {exc.orig}") from None
        self._sql = self._db.sql
        self._cache: dict[int, _TrialCache] = {}
        self._cache_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    def _check_study(self, conn: Any, study_id: int, *, lock: bool = False) -> tuple[Any, ...]:
        sql = self._sql.lock_study if lock else self._sql.study_row
        row = conn.execute(sql, (study_id,)).fetchone()
        if row is None:
            raise StudyNotFoundError(f"no study with id {study_id} in {self.url!r}")
        return tuple(row)

    def _closed_error(self, conn: Any, trial_id: int) -> Exception:
        """Why a guarded write into trial ``trial_id`` changed nothing."""
        row = conn.execute(self._sql.trial_state, (trial_id,)).fetchone()
        if row is None:
            return KeyError(f"no trial with id {trial_id} in {self.url!r}")
        state, number = TrialState(row[0]), row[1]
        if state.is_finished():
            return UpdateFinishedTrialError(
                f"trial {number} (id {trial_id}) already finished as {state.name}"
            )
        return StorageError(f"trial {number} (id {trial_id}) changed while written; try again")

    # -- studies --
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str) -> int:
        sql = self._sql
        row = (study_name, json.dumps([d.name for d in directions]), time.time())

        def work(conn: Any) -> int:
            if conn.execute(sql.study_id_by_name, (study_name,)).fetchone() is not None:
                raise DuplicatedStudyError(f"a study named {study_name!r} already exists")
            cursor = conn.execute(sql.insert_study, row)
            return int(cursor.fetchone()[0] if sql.returning else cursor.lastrowid)

        try:
            return self._db.write(work)
        except ConstraintError:
            raise DuplicatedStudyError(f"a study named {study_name!r} already exists") from None

    def delete_study(self, study_id: int) -> None:
        def work(conn: Any) -> None:
            self._check_study(conn, study_id, lock=True)
            for statement in self._sql.delete_study:
                conn.execute(statement, (study_id,))

        self._db.write(work)
        with self._cache_lock:
            self._cache.pop(study_id, None)

    def get_study_id_from_name(self, study_name: str) -> int:
        sql = self._sql.study_id_by_name
        row = self._db.read(lambda conn: conn.execute(sql, (study_name,)).fetchone())
        if row is None:
            raise StudyNotFoundError(f"no study named {study_name!r} in {self.url!r}")
        return int(row[0])

    def get_study_name_from_id(self, study_id: int) -> str:
        name, _ = self._db.read(lambda conn: self._check_study(conn, study_id))
        return str(name)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        _, directions = self._db.read(lambda conn: self._check_study(conn, study_id))
        return [StudyDirection[name] for name in json.loads(directions)]

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        row = (study_id, system, key, dumps_json(value))

        def work(conn: Any) -> None:
            self._check_study(conn, study_id)
            conn.execute(self._sql.upsert_study_attr, row)

        self._db.write(work)

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        def work(conn: Any) -> list[Any]:
            self._check_study(conn, study_id)
            return list(conn.execute(self._sql.study_attrs, (study_id, system)).fetchall())

        return {key: json.loads(value) for key, value in self._db.read(work, snapshot=True)}

    def get_all_studies(self) -> list[StudySummary]:
        def work(conn: Any) -> tuple[list[Any], list[Any]]:
            studies = list(conn.execute(self._sql.all_studies).fetchall())
            return studies, list(conn.execute(self._sql.study_counts).fetchall())

        studies, counts = self._db.read(work, snapshot=True)
        per_study = {study_id: (count, start) for study_id, count, start in counts}
        summaries = []
        for study_id, name, directions in studies:
            count, start = per_study.get(study_id, (0, None))
            summaries.append(
                StudySummary(
                    study_name=name,
                    study_id=study_id,
                    directions=[StudyDirection[n] for n in json.loads(directions)],
                    n_trials=int(count),
                    best_values=self.get_best_values(study_id),
                    datetime_start=_utc(start),
                    user_attrs=self.get_study_attrs(study_id),
                )
            )
        return summaries

    # -- trials --
    def create_new_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.RUNNING,
        system_attrs: dict[str, Any] | None = None,
        user_attrs: dict[str, Any] | None = None,
        template_trial: FrozenTrial | None = None,
    ) -> FrozenTrial:
        if template_trial is not None:
            return self._create_from_template(study_id, template_trial)
        sql = self._sql
        system_attrs = check_new_trial_attrs(system_attrs)
        running = state == TrialState.RUNNING
        limit = self._trial_limit(study_id, state)

        def work(conn: Any) -> tuple[int, int, float]:
            self._check_study(conn, study_id, lock=True)
            if limit is not None:
                # Under the study's lock: no other worker's insert can slip in between.
                held = int(conn.execute(sql.count_not_failed, (study_id,)).fetchone()[0])
                if held >= limit:
                    raise TrialLimitReached(limit_reason(held, limit))
            return self._insert_trial(conn, study_id, state, system_attrs, user_attrs)

        trial_id, number, stamp = self._db.write(work)
        return FrozenTrial._stored(
            number=number,
            trial_id=trial_id,
            state=state,
            user_attrs=dict(user_attrs or {}),
            system_attrs=dict(system_attrs or {}),
            datetime_start=_utc(stamp) if running else None,
        )

    def _insert_trial(
        self,
        conn: Any,
        study_id: int,
        state: TrialState,
        system_attrs: dict[str, Any] | None,
        user_attrs: dict[str, Any] | None,
    ) -> tuple[int, int, float]:
        """Insert a trial with the next number; the caller holds the study's lock.

        Returns:
            The trial's id, its number and the time it was stamped with.
        """
        sql = self._sql
        attrs = [(True, k, dumps_json(v)) for k, v in (system_attrs or {}).items()]
        attrs += [(False, k, dumps_json(v)) for k, v in (user_attrs or {}).items()]
        stamp = time.time()
        start = stamp if state == TrialState.RUNNING else None
        if sql.returning:
            inserted = conn.execute(
                sql.insert_next_trial, (study_id, int(state), start, start, study_id)
            )
            trial_id, number = inserted.fetchone()
        else:
            number = conn.execute(sql.next_number, (study_id,)).fetchone()[0]
            inserted = conn.execute(sql.insert_trial, (study_id, number, int(state), start, start))
            trial_id = inserted.lastrowid
        if attrs:
            conn.cursor().executemany(
                sql.insert_trial_attr, [(trial_id, b, k, v) for b, k, v in attrs]
            )
        return int(trial_id), int(number), stamp

    def claim_waiting_trial(self, study_id: int) -> FrozenTrial | None:
        sql = self._sql
        while True:
            row = self._db.read(
                lambda conn: conn.execute(sql.waiting_trial, (study_id,)).fetchone()
            )
            if row is None:
                return None

            def work(conn: Any, trial_id: int = int(row[0])) -> FrozenTrial | None:
                stamp = time.time()
                if conn.execute(sql.claim_trial, (stamp, stamp, trial_id)).rowcount != 1:
                    return None  # another worker claimed it first
                return _load(conn, sql.load_one, (trial_id,))[0]

            claimed = self._db.write(work)
            if claimed is not None:
                return claimed

    def set_trial_param(
        self, trial_id: int, name: str, internal_value: float, distribution: BaseDistribution
    ) -> None:
        check_param_name(name)
        self._write_open(
            self._sql.upsert_param,
            (trial_id, name, float(internal_value), distribution.to_json(), trial_id),
        )

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        # NULL stands for NaN: SQLite cannot store NaN in a REAL column.
        stored = None if math.isnan(value) else float(value)
        self._write_open(self._sql.upsert_step, (trial_id, step, stored, trial_id))

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        row = (trial_id, system, key, dumps_json(value), trial_id)
        self._write_open(self._sql.upsert_open_attr, row)

    def _write_open(self, statement: str, params: tuple[Any, ...]) -> None:
        """Run one guarded upsert into an open trial (the trial id is the last parameter)."""

        def work(conn: Any) -> None:
            if conn.execute(statement, params).rowcount != 1:
                raise self._closed_error(conn, params[-1])

        self._db.write(work, idempotent=True)

    def set_trial_state_values(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        *,
        fail_reason: str | None = None,
    ) -> None:
        checked = check_values(values, state)
        text = None if checked is None else json.dumps(checked)
        attrs = [(k, dumps_json(v)) for k, v in fail_reason_attrs(fail_reason).items()]
        running, finished = state == TrialState.RUNNING, state.is_finished()
        sql = self._sql

        def work(conn: Any) -> None:
            stamp = time.time()
            start = stamp if running else None
            row = (int(state), text, start, start, stamp if finished else None, trial_id)
            if conn.execute(sql.set_state, row).rowcount != 1:
                raise self._closed_error(conn, trial_id)
            for key, value in attrs:
                conn.execute(sql.upsert_attr, (trial_id, True, key, value))

        self._db.write(work)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        load = self._sql.load_one
        found = self._db.read(lambda conn: _load(conn, load, (trial_id,)), snapshot=True)
        if not found:
            raise KeyError(f"no trial with id {trial_id} in {self.url!r}")
        return found[0]

    def get_trial_id_from_number(self, study_id: int, number: int) -> int:
        sql = self._sql.trial_id_by_number
        row = self._db.read(lambda conn: conn.execute(sql, (study_id, number)).fetchone())
        if row is None:
            raise KeyError(f"study {study_id} has no trial number {number}")
        return int(row[0])

    def get_all_trials(
        self, study_id: int, *, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        with self._cache_lock:
            cache = self._cache.setdefault(study_id, _TrialCache())
            self._refresh(study_id, cache)
            if states is not None and not any(state in states for state in _FINISHED):
                # Only unfinished trials asked for (ids run in the order of numbers).
                opened = [cache.ordered[cache.index[i]] for i in sorted(cache.open_ids)]
                return [t for t in opened if t.state in states]
            trials = list(cache.ordered)
        if states is None:
            return trials
        return [t for t in trials if t.state in states]

    def _refresh(self, study_id: int, cache: _TrialCache) -> None:
        """Read the trials that are new or were unfinished at the last read."""
        open_ids = sorted(cache.open_ids)
        load = self._sql.load_changed(len(open_ids))
        params = (study_id, cache.max_number, *open_ids)

        def work(conn: Any) -> list[FrozenTrial]:
            if cache.max_number < 0:
                self._check_study(conn, study_id)
            return _load(conn, load, params)

        for trial in self._db.read(work, snapshot=True):
            position = cache.index.get(trial.trial_id)
            if position is None:
                cache.index[trial.trial_id] = len(cache.ordered)
                cache.ordered.append(trial)
                cache.max_number = max(cache.max_number, trial.number)
            else:
                cache.ordered[position] = trial
            if trial.state.is_finished():
                cache.open_ids.discard(trial.trial_id)
            else:
                cache.open_ids.add(trial.trial_id)

    # -- heartbeats --
    def record_heartbeat(self, trial_ids: Sequence[int]) -> None:
        if not trial_ids:
            return
        statement = self._sql.heartbeat(len(trial_ids))
        params = (time.time(), *trial_ids)
        self._db.write(lambda conn: conn.execute(statement, params), idempotent=True)

    def fail_stale_trials(
        self, study_id: int, grace_seconds: float, *, retries: int = 0
    ) -> list[FrozenTrial]:
        sql = self._sql
        deadline = time.time() - grace_seconds
        stale = self._db.read(
            lambda conn: conn.execute(sql.stale_trials, (study_id, deadline)).fetchall()
        )
        attrs = [
            (k, dumps_json(v)) for k, v in fail_reason_attrs(stale_reason(grace_seconds)).items()
        ]
        failed = []
        for (trial_id,) in stale:

            def work(conn: Any, trial_id: int = trial_id) -> FrozenTrial | None:
                if retries:
                    # The study's lock first, as for any insert: a retry takes the next number.
                    self._check_study(conn, study_id, lock=True)
                # The heartbeat test again: the worker may have come back since the read.
                if conn.execute(sql.fail_stale, (time.time(), trial_id, deadline)).rowcount != 1:
                    return None
                for key, value in attrs:
                    conn.execute(sql.upsert_attr, (trial_id, True, key, value))
                failed = _load(conn, sql.load_one, (trial_id,))[0]
                retry = retry_attrs(failed, retries)
                if retry is not None:
                    self._insert_trial(conn, study_id, TrialState.WAITING, *retry)
                return failed

            trial = self._db.write(work)
            if trial is not None:
                failed.append(trial)
        return failed

    def close(self) -> None:
        self._db.close()


def _ensure_schema(engine: Engine, url: str) -> None:
    """Create the tables in an empty database; refuse one with another schema version."""

    def check(conn: Connection) -> None:
        inspector = sa.inspect(conn)
        if not inspector.has_table(s.schema_version.name):
            if inspector.has_table(s.studies.name):
                raise SchemaVersionError(
                    f"{url!r} has tunelab tables but no schema version; it was not "
                    "written by tunelab >= 0.1 and cannot be opened"
                )
            s.metadata.create_all(conn)
            conn.execute(sa.insert(s.schema_version).values(version=s.SCHEMA_VERSION))
            return
        version = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
        if version != s.SCHEMA_VERSION:
            newer = (version or 0) > s.SCHEMA_VERSION
            raise SchemaVersionError(
                f"{url!r} holds tunelab storage schema version {version}; this tunelab "
                f"reads version {s.SCHEMA_VERSION}. "
                + (
                    "Upgrade tunelab: pip install -U tunelab."
                    if newer
                    else "Open it with the tunelab version that wrote it and export the "
                    "studies (tunelab studies export)."
                )
            )

    try:
        with engine.begin() as conn:
            check(conn)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
        # Another process created the schema at the same moment: read it again.
        with engine.begin() as conn:
            check(conn)


def _load(conn: Any, load: LoadStatements, params: tuple[Any, ...]) -> list[FrozenTrial]:
    """Trials read by ``load`` with their params, intermediate values and attributes."""
    rows = conn.execute(load.trials, params).fetchall()
    if not rows:
        return []
    values: dict[int, dict[str, tuple[float, str]]] = {}
    for trial_id, name, value, distribution in conn.execute(load.params, params):
        values.setdefault(trial_id, {})[name] = (value, distribution)
    steps: dict[int, dict[int, float]] = {}
    for trial_id, step, value in conn.execute(load.steps, params):
        steps.setdefault(trial_id, {})[step] = math.nan if value is None else value
    attrs: dict[tuple[int, bool], dict[str, Any]] = {}
    for trial_id, system, key, value in conn.execute(load.attrs, params):
        attrs.setdefault((trial_id, bool(system)), {})[key] = json.loads(value)
    return [_build_trial(row, values, steps, attrs) for row in rows]


def _build_trial(
    row: Sequence[Any],
    values: dict[int, dict[str, tuple[float, str]]],
    steps: dict[int, dict[int, float]],
    attrs: dict[tuple[int, bool], dict[str, Any]],
) -> FrozenTrial:
    trial_id, number, state, objective_values, start, complete = row
    stored = values.get(trial_id, {})
    dists = {name: _distribution(text) for name, (_, text) in stored.items()}
    return FrozenTrial._stored(
        number=number,
        trial_id=trial_id,
        state=TrialState(state),
        values=None if objective_values is None else json.loads(objective_values),
        params={name: dists[name].to_external(value) for name, (value, _) in stored.items()},
        distributions=dists,
        intermediate_values=dict(sorted(steps.get(trial_id, {}).items())),
        user_attrs=attrs.get((trial_id, False), {}),
        system_attrs=attrs.get((trial_id, True), {}),
        datetime_start=_utc(start),
        datetime_complete=_utc(complete),
    )


_DIST_CACHE: dict[str, BaseDistribution] = {}


def _distribution(text: str) -> BaseDistribution:
    """Parse a stored distribution; a study has few distinct ones, so memoise."""
    dist = _DIST_CACHE.get(text)
    if dist is None:
        dist = _DIST_CACHE[text] = distribution_from_json(text)
    return dist
