"""Storages: where studies and trials live (in memory, SQLite, PostgreSQL, a journal file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tunelab.exceptions import StorageError
from tunelab.storage._base import BaseStorage, StudySummary, TrialLimitReached
from tunelab.storage._in_memory import InMemoryStorage
from tunelab.storage._journal import (
    BaseJournalBackend,
    BaseJournalFileLock,
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
)
from tunelab.storage._sql import SQLStorage

__all__ = [
    "BaseJournalBackend",
    "BaseJournalFileLock",
    "BaseStorage",
    "InMemoryStorage",
    "JournalFileBackend",
    "JournalFileOpenLock",
    "JournalFileSymlinkLock",
    "JournalStorage",
    "SQLStorage",
    "StudySummary",
    "TrialLimitReached",
    "get_storage",
]


def get_storage(storage: str | BaseStorage | None) -> BaseStorage:
    """A storage from a URL, an existing storage, or None (a new in-memory one).

    Args:
        storage: ``None``, a :class:`BaseStorage`, or a database URL such as
            ``sqlite:///tunelab.db`` or ``postgresql+psycopg://user@host/db``.

    Raises:
        TypeError: ``storage`` is of another type.
        StorageError: The URL cannot be opened, or names a file that is not a
            SQLite database.
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, str):
        _check_sqlite_file(storage)
        return SQLStorage(storage)
    raise TypeError(
        f"storage must be None, a database URL or a BaseStorage, got {type(storage).__name__}"
    )


def _check_sqlite_file(url: str) -> None:
    """Refuse a SQLite URL naming an existing file that is not a database, before opening it."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return  # SQLStorage reports the malformed URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if "\x00" in parsed.database:
        raise StorageError(f"invalid storage URL {url!r}: the SQLite path holds a NUL character")
    path = Path(parsed.database)
    try:
        if path.is_dir():
            raise StorageError(f"not a tunelab/SQLite database: {path} is a directory")
        if not path.is_file():
            return  # a new database, or a missing folder SQLite reports
    except OSError:
        return  # unreadable: SQLite reports it as "unable to open database file"
    # SQLite itself reads the header, never a file object of ours: closing any other
    # descriptor on the file would drop the POSIX locks this process's open
    # connections hold on it, and other processes would then reset the WAL under them.
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # unreadable: SQLite reports it again when the storage opens it
    try:
        probe.execute("PRAGMA schema_version").fetchall()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise StorageError(f"not a tunelab/SQLite database: {path}") from None
    finally:
        probe.close()
