"""Storages: where studies and trials live (in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tunelab.exceptions import StorageError
from tunelab.storage._base import BaseStorage, StudySummary, TrialLimitReached
from tunelab.storage._in_memory import InMemoryStorage
from tunelab.storage._sql import SQLStorage

__all__ = [
    "BaseStorage",
    "InMemoryStorage",
    "SQLStorage",
    "StudySummary",
    "TrialLimitReached",
    "get_storage",
]

_SQLITE_HEADER = b"SQLite format 3\x00"


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
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError:
        return  # unreadable: SQLite reports it as "unable to open database file"
    # An empty file is a valid new database; anything else must carry SQLite's header.
    if header and header != _SQLITE_HEADER:
        raise StorageError(f"not a tunelab/SQLite database: {path}")
