"""Storages: where studies and trials live (in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from tunelab.storage._base import BaseStorage, StudySummary
from tunelab.storage._in_memory import InMemoryStorage
from tunelab.storage._sql import SQLStorage

__all__ = ["BaseStorage", "InMemoryStorage", "SQLStorage", "StudySummary", "get_storage"]


def get_storage(storage: str | BaseStorage | None) -> BaseStorage:
    """A storage from a URL, an existing storage, or None (a new in-memory one).

    Args:
        storage: ``None``, a :class:`BaseStorage`, or a database URL such as
            ``sqlite:///tunelab.db`` or ``postgresql+psycopg://user@host/db``.

    Raises:
        TypeError: ``storage`` is of another type.
        StorageError: The URL cannot be opened.
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, str):
        return SQLStorage(storage)
    raise TypeError(
        f"storage must be None, a database URL or a BaseStorage, got {type(storage).__name__}"
    )
