"""SQL storage through SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

Design notes:

* Each state change is one transaction. On SQLite every write transaction
  starts with ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
  instead of failing mid-transaction, and the database runs in WAL mode so
  readers never block writers.
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
import random
import threading
import time
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
    check_values,
    dumps_json,
    fail_reason_attrs,
    stale_reason,
)
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

T = TypeVar("T")

_OPEN_STATES = (int(TrialState.RUNNING), int(TrialState.WAITING))
_MAX_TRIES = 20


def _utc(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, dt.UTC)


def _is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Lock timeouts, serialisation failures and deadlocks: worth another try."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc.orig).lower()


def _make_engine(url: str, engine_kwargs: dict[str, Any]) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; tunelab[postgres] ships psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, **engine_kwargs)
    synchronous = parsed.query.get("synchronous", "NORMAL")
    if isinstance(synchronous, tuple) or synchronous.upper() not in ("OFF", "NORMAL", "FULL"):
        raise ValueError(f"storage URL {url!r}: synchronous must be OFF, NORMAL or FULL")
    in_memory = parsed.database in (None, "", ":memory:")
    engine = sa.create_engine(
        parsed.difference_update_query(["synchronous"]),
        connect_args={"timeout": 60.0, "check_same_thread": False},
        **({"poolclass": sa.pool.StaticPool} if in_memory else {}),
        **engine_kwargs,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite's own
        # implicit BEGIN cannot be IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("tl_write") else "BEGIN"
        )

    return engine


@dataclass
class _TrialCache:
    """Trials of one study as last read; finished ones are final."""

    ordered: list[FrozenTrial] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)  # trial id -> position in ordered
    open_ids: set[int] = field(default_factory=set)
    max_id: int = -1


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
            self._engine = _make_engine(url, engine_kwargs or {})
            self._ensure_schema()
        except sa.exc.ArgumentError as exc:
            raise StorageError(f"invalid storage URL {url!r}: {exc}") from None
        except (sa.exc.NoSuchModuleError, ImportError) as exc:
            raise StorageError(
                f"storage URL {url!r} needs a database driver that is not installed ({exc}); "
                "for PostgreSQL: pip install 'tunelab[postgres]'"
            ) from None
        except sa.exc.OperationalError as exc:
            raise StorageError(f"cannot open storage {url!r}: {exc.orig}") from None
        self._cache: dict[int, _TrialCache] = {}
        self._cache_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    # -- plumbing --
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying lock timeouts and deadlocks."""
        for attempt in range(_MAX_TRIES):
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(tl_write=True)
                    with conn.begin():
                        return work(conn)
            except sa.exc.OperationalError as exc:
                if not _is_transient(exc) or attempt == _MAX_TRIES - 1:
                    raise StorageError(f"storage {self.url!r}: {exc.orig}") from exc
                time.sleep(min(1.0, 0.01 * 2**attempt) * random.random())
        raise AssertionError("unreachable")

    def _ensure_schema(self) -> None:
        def work(conn: Connection) -> None:
            inspector = sa.inspect(conn)
            if not inspector.has_table(s.schema_version.name):
                if inspector.has_table(s.studies.name):
                    raise SchemaVersionError(
                        f"{self.url!r} has tunelab tables but no schema version; it was not "
                        "written by tunelab >= 0.1 and cannot be opened"
                    )
                s.metadata.create_all(conn)
                conn.execute(sa.insert(s.schema_version).values(version=s.SCHEMA_VERSION))
                return
            version = conn.execute(sa.select(sa.func.max(s.schema_version.c.version))).scalar()
            if version != s.SCHEMA_VERSION:
                newer = (version or 0) > s.SCHEMA_VERSION
                raise SchemaVersionError(
                    f"{self.url!r} holds tunelab storage schema version {version}; this tunelab "
                    f"reads version {s.SCHEMA_VERSION}. "
                    + (
                        "Upgrade tunelab: pip install -U tunelab."
                        if newer
                        else "Open it with the tunelab version that wrote it and export the "
                        "studies (tunelab studies export)."
                    )
                )

        try:
            self._write(work)
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            # Another process created the schema at the same moment: read it again.
            self._write(work)

    def _study_row(self, conn: Connection, study_id: int, *, lock: bool = False) -> Any:
        query = sa.select(s.studies).where(s.studies.c.study_id == study_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise StudyNotFoundError(f"no study with id {study_id} in {self.url!r}")
        return row

    # -- studies --
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str) -> int:
        def work(conn: Connection) -> int:
            exists = conn.execute(
                sa.select(s.studies.c.study_id).where(s.studies.c.study_name == study_name)
            ).first()
            if exists is not None:
                raise DuplicatedStudyError(f"a study named {study_name!r} already exists")
            result = conn.execute(
                sa.insert(s.studies).values(
                    study_name=study_name,
                    directions=json.dumps([d.name for d in directions]),
                    created_at=time.time(),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        try:
            return self._write(work)
        except sa.exc.IntegrityError:
            raise DuplicatedStudyError(f"a study named {study_name!r} already exists") from None

    def delete_study(self, study_id: int) -> None:
        def work(conn: Connection) -> None:
            self._study_row(conn, study_id, lock=True)
            ids = sa.select(s.trials.c.trial_id).where(s.trials.c.study_id == study_id)
            for table in (s.trial_params, s.trial_intermediate, s.trial_attrs):
                conn.execute(sa.delete(table).where(table.c.trial_id.in_(ids)))
            conn.execute(sa.delete(s.trials).where(s.trials.c.study_id == study_id))
            conn.execute(sa.delete(s.study_attrs).where(s.study_attrs.c.study_id == study_id))
            conn.execute(sa.delete(s.studies).where(s.studies.c.study_id == study_id))

        self._write(work)
        with self._cache_lock:
            self._cache.pop(study_id, None)

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._read() as conn:
            row = conn.execute(
                sa.select(s.studies.c.study_id).where(s.studies.c.study_name == study_name)
            ).first()
        if row is None:
            raise StudyNotFoundError(f"no study named {study_name!r} in {self.url!r}")
        return int(row[0])

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._read() as conn:
            return str(self._study_row(conn, study_id).study_name)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._read() as conn:
            row = self._study_row(conn, study_id)
        return [StudyDirection[name] for name in json.loads(row.directions)]

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        text = dumps_json(value)

        def work(conn: Connection) -> None:
            self._study_row(conn, study_id)
            _upsert_attr(conn, s.study_attrs, "study_id", study_id, key, text, system)

        self._write(work)

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        table = s.study_attrs
        with self._read() as conn:
            self._study_row(conn, study_id)
            rows = conn.execute(
                sa.select(table.c.key, table.c.value).where(
                    table.c.study_id == study_id, table.c.system == system
                )
            ).all()
        return {row.key: json.loads(row.value) for row in rows}

    def get_all_studies(self) -> list[StudySummary]:
        with self._read() as conn:
            rows = conn.execute(sa.select(s.studies).order_by(s.studies.c.study_id)).all()
            counts: dict[int, int] = dict(
                conn.execute(
                    sa.select(s.trials.c.study_id, sa.func.count()).group_by(s.trials.c.study_id)
                ).all()
            )
            starts: dict[int, float] = dict(
                conn.execute(
                    sa.select(s.trials.c.study_id, sa.func.min(s.trials.c.datetime_start)).group_by(
                        s.trials.c.study_id
                    )
                ).all()
            )
        return [
            StudySummary(
                study_name=row.study_name,
                study_id=row.study_id,
                directions=[StudyDirection[n] for n in json.loads(row.directions)],
                n_trials=int(counts.get(row.study_id, 0)),
                best_values=self.get_best_values(row.study_id),
                datetime_start=_utc(starts.get(row.study_id)),
                user_attrs=self.get_study_attrs(row.study_id),
            )
            for row in rows
        ]

    # -- trials --
    def create_new_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.RUNNING,
        system_attrs: dict[str, Any] | None = None,
        user_attrs: dict[str, Any] | None = None,
    ) -> FrozenTrial:
        attrs = [(k, dumps_json(v), True) for k, v in (system_attrs or {}).items()]
        attrs += [(k, dumps_json(v), False) for k, v in (user_attrs or {}).items()]

        def work(conn: Connection) -> tuple[int, int, float]:
            self._study_row(conn, study_id, lock=True)
            number = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(s.trials.c.number) + 1, 0)).where(
                    s.trials.c.study_id == study_id
                )
            ).scalar_one()
            stamp = time.time()
            running = state == TrialState.RUNNING
            key = conn.execute(
                sa.insert(s.trials).values(
                    study_id=study_id,
                    number=number,
                    state=int(state),
                    datetime_start=stamp if running else None,
                    heartbeat=stamp if running else None,
                )
            ).inserted_primary_key
            assert key is not None
            trial_id = key[0]
            if attrs:
                conn.execute(
                    sa.insert(s.trial_attrs),
                    [
                        {"trial_id": trial_id, "key": k, "value": v, "system": b}
                        for k, v, b in attrs
                    ],
                )
            return int(trial_id), int(number), stamp

        trial_id, number, stamp = self._write(work)
        return FrozenTrial(
            number=number,
            trial_id=trial_id,
            state=state,
            user_attrs=dict(user_attrs or {}),
            system_attrs=dict(system_attrs or {}),
            datetime_start=_utc(stamp) if state == TrialState.RUNNING else None,
        )

    def claim_waiting_trial(self, study_id: int) -> FrozenTrial | None:
        while True:
            with self._read() as conn:
                candidate = conn.execute(
                    sa.select(sa.func.min(s.trials.c.trial_id)).where(
                        s.trials.c.study_id == study_id, s.trials.c.state == int(TrialState.WAITING)
                    )
                ).scalar()
            if candidate is None:
                return None

            def work(conn: Connection, trial_id: int = int(candidate)) -> bool:
                stamp = time.time()
                result = conn.execute(
                    sa.update(s.trials)
                    .where(
                        s.trials.c.trial_id == trial_id,
                        s.trials.c.state == int(TrialState.WAITING),
                    )
                    .values(state=int(TrialState.RUNNING), datetime_start=stamp, heartbeat=stamp)
                )
                return bool(result.rowcount == 1)

            if self._write(work):
                return self.get_trial(int(candidate))

    def _check_open(self, conn: Connection, trial_id: int) -> None:
        row = conn.execute(
            sa.select(s.trials.c.state, s.trials.c.number).where(s.trials.c.trial_id == trial_id)
        ).first()
        if row is None:
            raise KeyError(f"no trial with id {trial_id} in {self.url!r}")
        if row.state not in _OPEN_STATES:
            raise UpdateFinishedTrialError(
                f"trial {row.number} (id {trial_id}) already finished as "
                f"{TrialState(row.state).name}"
            )

    def set_trial_param(
        self, trial_id: int, name: str, internal_value: float, distribution: BaseDistribution
    ) -> None:
        values = sa.select(
            sa.literal(trial_id, sa.Integer),
            sa.literal(name, sa.String),
            sa.literal(float(internal_value), sa.Float),
            sa.literal(distribution.to_json(), sa.Text),
        ).where(_is_open(trial_id))
        insert = sa.insert(s.trial_params).from_select(
            ["trial_id", "name", "value", "distribution"], values
        )

        def work(conn: Connection) -> None:
            # One statement that inserts only into an open trial; look closer on a miss.
            if conn.execute(insert).rowcount != 1:
                self._check_open(conn, trial_id)

        self._write(work)

    def set_trial_state_values(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        *,
        fail_reason: str | None = None,
    ) -> None:
        checked = check_values(values, state)

        def work(conn: Connection) -> None:
            self._check_open(conn, trial_id)
            stamp = time.time()
            changes: dict[str, Any] = {
                "state": int(state),
                "values": None if checked is None else json.dumps(checked),
            }
            if state == TrialState.RUNNING:
                changes.update(datetime_start=stamp, heartbeat=stamp)
            if state.is_finished():
                changes["datetime_complete"] = stamp
            conn.execute(
                sa.update(s.trials).where(s.trials.c.trial_id == trial_id).values(**changes)
            )
            for key, value in fail_reason_attrs(fail_reason).items():
                _upsert_attr(
                    conn, s.trial_attrs, "trial_id", trial_id, key, dumps_json(value), True
                )

        self._write(work)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        stored = None if math.isnan(value) else float(value)

        def work(conn: Connection) -> None:
            self._check_open(conn, trial_id)
            table = s.trial_intermediate
            conn.execute(sa.delete(table).where(table.c.trial_id == trial_id, table.c.step == step))
            conn.execute(sa.insert(table).values(trial_id=trial_id, step=step, value=stored))

        self._write(work)

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        text = dumps_json(value)

        def work(conn: Connection) -> None:
            self._check_open(conn, trial_id)
            _upsert_attr(conn, s.trial_attrs, "trial_id", trial_id, key, text, system)

        self._write(work)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._read() as conn:
            found = _load_trials(conn, s.trials.c.trial_id == trial_id)
        if not found:
            raise KeyError(f"no trial with id {trial_id} in {self.url!r}")
        return found[0]

    def get_trial_id_from_number(self, study_id: int, number: int) -> int:
        with self._read() as conn:
            row = conn.execute(
                sa.select(s.trials.c.trial_id).where(
                    s.trials.c.study_id == study_id, s.trials.c.number == number
                )
            ).first()
        if row is None:
            raise KeyError(f"study {study_id} has no trial number {number}")
        return int(row[0])

    def get_all_trials(
        self, study_id: int, *, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        with self._cache_lock:
            cache = self._cache.setdefault(study_id, _TrialCache())
            self._refresh(study_id, cache)
            trials = list(cache.ordered)
        if states is None:
            return trials
        return [t for t in trials if t.state in states]

    def _refresh(self, study_id: int, cache: _TrialCache) -> None:
        """Read the trials that are new or were unfinished at the last read."""
        changed = sa.or_(
            s.trials.c.trial_id > cache.max_id, s.trials.c.trial_id.in_(sorted(cache.open_ids))
        )
        with self._read() as conn:
            if cache.max_id < 0:
                self._study_row(conn, study_id)
            fresh = _load_trials(conn, sa.and_(s.trials.c.study_id == study_id, changed))
        for trial in fresh:
            position = cache.index.get(trial.trial_id)
            if position is None:
                cache.index[trial.trial_id] = len(cache.ordered)
                cache.ordered.append(trial)
                cache.max_id = max(cache.max_id, trial.trial_id)
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
        stamp = time.time()

        def work(conn: Connection) -> None:
            conn.execute(
                sa.update(s.trials)
                .where(
                    s.trials.c.trial_id.in_(list(trial_ids)),
                    s.trials.c.state == int(TrialState.RUNNING),
                )
                .values(heartbeat=stamp)
            )

        self._write(work)

    def fail_stale_trials(self, study_id: int, grace_seconds: float) -> list[FrozenTrial]:
        deadline = time.time() - grace_seconds
        with self._read() as conn:
            stale = conn.execute(
                sa.select(s.trials.c.trial_id).where(
                    s.trials.c.study_id == study_id,
                    s.trials.c.state == int(TrialState.RUNNING),
                    s.trials.c.heartbeat < deadline,
                )
            ).all()
        reason = dumps_json(stale_reason(grace_seconds))
        failed = []
        for (trial_id,) in stale:

            def work(conn: Connection, trial_id: int = trial_id) -> bool:
                result = conn.execute(
                    sa.update(s.trials)
                    .where(
                        s.trials.c.trial_id == trial_id,
                        s.trials.c.state == int(TrialState.RUNNING),
                        s.trials.c.heartbeat < deadline,
                    )
                    .values(state=int(TrialState.FAIL), datetime_complete=time.time())
                )
                if result.rowcount != 1:
                    return False
                _upsert_attr(conn, s.trial_attrs, "trial_id", trial_id, "fail_reason", reason, True)
                return True

            if self._write(work):
                failed.append(self.get_trial(trial_id))
        return failed

    def close(self) -> None:
        self._engine.dispose()


def _is_open(trial_id: int) -> sa.Exists:
    """Whether trial ``trial_id`` is RUNNING or WAITING."""
    return sa.exists().where(s.trials.c.trial_id == trial_id, s.trials.c.state.in_(_OPEN_STATES))


def _upsert_attr(
    conn: Connection, table: sa.Table, owner: str, owner_id: int, key: str, text: str, system: bool
) -> None:
    conn.execute(
        sa.delete(table).where(
            table.c[owner] == owner_id, table.c.key == key, table.c.system == system
        )
    )
    conn.execute(
        sa.insert(table).values({owner: owner_id, "key": key, "value": text, "system": system})
    )


def _load_trials(conn: Connection, where: sa.ColumnElement[bool]) -> list[FrozenTrial]:
    """Trials matching ``where`` with their params, intermediates and attributes."""
    rows = conn.execute(sa.select(s.trials).where(where).order_by(s.trials.c.trial_id)).all()
    if not rows:
        return []
    ids = sa.select(s.trials.c.trial_id).where(where)
    params: dict[int, dict[str, tuple[float, str]]] = {}
    for r in conn.execute(sa.select(s.trial_params).where(s.trial_params.c.trial_id.in_(ids))):
        params.setdefault(r.trial_id, {})[r.name] = (r.value, r.distribution)
    steps: dict[int, dict[int, float]] = {}
    table = s.trial_intermediate
    for r in conn.execute(sa.select(table).where(table.c.trial_id.in_(ids))):
        steps.setdefault(r.trial_id, {})[r.step] = math.nan if r.value is None else r.value
    attrs: dict[tuple[int, bool], dict[str, Any]] = {}
    for r in conn.execute(sa.select(s.trial_attrs).where(s.trial_attrs.c.trial_id.in_(ids))):
        attrs.setdefault((r.trial_id, r.system), {})[r.key] = json.loads(r.value)
    return [_build_trial(row, params, steps, attrs) for row in rows]


def _build_trial(
    row: Any,
    params: dict[int, dict[str, tuple[float, str]]],
    steps: dict[int, dict[int, float]],
    attrs: dict[tuple[int, bool], dict[str, Any]],
) -> FrozenTrial:
    dists = {name: _distribution(text) for name, (_, text) in params.get(row.trial_id, {}).items()}
    return FrozenTrial(
        number=row.number,
        trial_id=row.trial_id,
        state=TrialState(row.state),
        values=None if row.values is None else json.loads(row.values),
        params={
            name: dists[name].to_external(value)
            for name, (value, _) in params.get(row.trial_id, {}).items()
        },
        distributions=dists,
        intermediate_values=dict(sorted(steps.get(row.trial_id, {}).items())),
        user_attrs=attrs.get((row.trial_id, False), {}),
        system_attrs=attrs.get((row.trial_id, True), {}),
        datetime_start=_utc(row.datetime_start),
        datetime_complete=_utc(row.datetime_complete),
    )


_DIST_CACHE: dict[str, BaseDistribution] = {}


def _distribution(text: str) -> BaseDistribution:
    """Parse a stored distribution; a study has few distinct ones, so memoise."""
    dist = _DIST_CACHE.get(text)
    if dist is None:
        dist = _DIST_CACHE[text] = distribution_from_json(text)
    return dist
