"""Connections and transactions of the SQL storage, run at the DBAPI level.

SQLAlchemy opens the database (URL parsing, drivers, the schema); the storage's
own statements then run on DBAPI connections that it keeps checked out in a
small pool of its own, because SQLAlchemy's per-statement work (compiling,
caching, result wrapping, pool checkout and pre-ping) cost more than SQLite.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tunelab.exceptions import StorageError
from tunelab.storage._sql_statements import Statements

T = TypeVar("T")

_MAX_TRIES = 20


class ConstraintError(StorageError):
    """A write broke a uniqueness constraint: the row it adds exists already."""


def make_engine(url: str, engine_kwargs: dict[str, Any]) -> tuple[Engine, bool]:
    """The engine for ``url`` and whether it is an in-memory SQLite database."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; tunelab[postgres] ships psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        # The storage pools its connections itself (see Database).
        return sa.create_engine(parsed, **{"poolclass": sa.pool.NullPool, **engine_kwargs}), False
    synchronous = parsed.query.get("synchronous", "NORMAL")
    if isinstance(synchronous, tuple) or synchronous.upper() not in ("OFF", "NORMAL", "FULL"):
        raise ValueError(f"storage URL {url!r}: synchronous must be OFF, NORMAL or FULL")
    in_memory = parsed.database in (None, "", ":memory:")
    defaults = {
        "connect_args": {"timeout": 60.0, "check_same_thread": False},
        # One in-memory database exists per connection, so it must be shared.
        "poolclass": sa.pool.StaticPool if in_memory else sa.pool.NullPool,
    }
    engine = sa.create_engine(
        parsed.difference_update_query(["synchronous"]), **{**defaults, **engine_kwargs}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver: the storage issues BEGIN itself (pysqlite's
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
        # Only the schema set-up runs through SQLAlchemy connections.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine, in_memory


def _is_transient(exc: BaseException) -> bool:
    """Lock timeouts, serialisation failures and deadlocks: worth another try."""
    code = getattr(exc, "sqlstate", None)
    return code in ("40001", "40P01") or "locked" in str(exc).lower()


class _Conn:
    """A DBAPI connection held by the storage, with SQLAlchemy's handle on it."""

    __slots__ = ("dbapi", "handle")

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.dbapi: Any = handle.dbapi_connection


class Database:
    """Runs units of work in transactions on pooled DBAPI connections.

    A unit of work is a function of the DBAPI connection (``sqlite3`` or
    ``psycopg``; both have ``execute``, ``cursor`` and ``commit``). Lock
    timeouts, serialisation failures and deadlocks are retried; so is a lost
    connection (a server restart, an idle connection dropped by the server or
    a firewall), unless a write that is not idempotent may already have been
    committed on it. A stale connection fails on BEGIN, before any write, so
    no ping before each transaction is needed.

    Args:
        url: SQLAlchemy database URL.
        engine_kwargs: Extra arguments for :func:`sqlalchemy.create_engine`.
    """

    def __init__(self, url: str, engine_kwargs: dict[str, Any]) -> None:
        self.url = url
        self.engine, in_memory = make_engine(url, engine_kwargs)
        backend = self.engine.dialect.name
        self.sql = Statements(backend)
        dbapi = self.engine.dialect.loaded_dbapi
        self._error: type[Exception] = dbapi.Error
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        self._autocommit_driver = backend == "postgresql"
        self._idle: deque[_Conn] = deque()
        # The single in-memory SQLite connection serves one transaction at a time.
        self._shared = threading.Lock() if in_memory else None
        if not in_memory:
            _OPEN_FILE_DATABASES.add(self)

    # -- units of work --
    def write(self, work: Callable[[Any], T], *, idempotent: bool = False) -> T:
        """Run ``work`` in one write transaction.

        Args:
            work: The statements, given the DBAPI connection.
            idempotent: ``work`` is one statement (atomic on its own) whose
                repetition changes nothing: where the database allows, it runs
                without BEGIN/COMMIT round trips, and it is run again after a
                lost connection even if it may have been committed.
        """
        begin = None if idempotent and self.sql.autocommit_single else self.sql.begin_write
        return self._run(work, begin, writes=not idempotent)

    def read(self, work: Callable[[Any], T], *, snapshot: bool = False) -> T:
        """Run ``work``, which only reads; ``snapshot``: see one consistent state."""
        return self._run(work, self.sql.begin_read if snapshot else None, writes=False)

    def _run(self, work: Callable[[Any], T], begin: str | None, *, writes: bool) -> T:
        for attempt in range(_MAX_TRIES):
            conn = self._take()
            # A lost connection is retried unless a write may have been committed on it.
            committing = False
            try:
                if begin is not None:
                    conn.dbapi.execute(begin)
                result = work(conn.dbapi)
                if begin is not None:
                    committing = writes
                    conn.dbapi.commit()
            except BaseException as exc:
                lost = self._release_after_error(conn, exc)
                if not isinstance(exc, self._error):
                    raise
                if isinstance(exc, self._integrity_error):
                    raise ConstraintError(f"storage {self.url!r}: {exc}") from exc
                if not (_is_transient(exc) or (lost and not committing)) or (
                    attempt == _MAX_TRIES - 1
                ):
                    raise StorageError(f"storage {self.url!r}: {exc}") from exc
                if not lost:
                    time.sleep(min(1.0, 0.01 * 2**attempt) * random.random())
                continue
            self._give(conn)
            return result
        raise AssertionError("unreachable")

    # -- the pool --
    def _take(self) -> _Conn:
        if self._shared is not None:
            self._shared.acquire()
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def _connect(self) -> _Conn:
        try:
            conn = _Conn(self.engine.raw_connection())
        except BaseException as exc:
            if self._shared is not None:
                self._shared.release()
            if isinstance(exc, sa.exc.DBAPIError):
                raise StorageError(f"cannot connect to storage {self.url!r}: {exc.orig}") from exc
            raise
        if self._autocommit_driver:
            conn.dbapi.autocommit = True
        return conn

    def _give(self, conn: _Conn) -> None:
        self._idle.append(conn)
        if self._shared is not None:
            self._shared.release()

    def _release_after_error(self, conn: _Conn, exc: BaseException) -> bool:
        """Roll back and keep the connection, or drop it if lost; True when lost."""
        lost = isinstance(exc, self._error) and self.engine.dialect.is_disconnect(
            exc,  # type: ignore[arg-type]
            conn.dbapi,
            None,
        )
        if not lost:
            try:
                conn.dbapi.rollback()
            except self._error:
                lost = True
        if not lost:
            self._give(conn)
            return False
        conn.handle.invalidate()
        if self._shared is not None:
            self._shared.release()
        return True

    def forget_inherited(self) -> None:
        """In a forked child: set the parent's connections aside, never to use or close them."""
        # Kept referenced: a collected handle would roll back and close the parent's connection.
        _INHERITED.extend(self._idle)
        self._idle = deque()
        self.engine.dispose(close=False)

    def close(self) -> None:
        """Close the idle connections and the engine."""
        while self._idle:
            self._idle.pop().handle.close()
        self.engine.dispose()


# Connections must not cross a fork (a child writing on its parent's SQLite handle
# or PostgreSQL socket corrupts both). An in-memory database lives in the process's
# memory, so the child keeps its copy and the connection to it.
_OPEN_FILE_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()
_INHERITED: list[_Conn] = []


def _after_fork_in_child() -> None:
    for database in list(_OPEN_FILE_DATABASES):
        database.forget_inherited()


os.register_at_fork(after_in_child=_after_fork_in_child)
