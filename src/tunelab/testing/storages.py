"""Fresh storages of each kind, for tests that must pass on every storage."""

from __future__ import annotations

import os
import tempfile
from types import TracebackType
from typing import Any

from tunelab.storage import (
    BaseStorage,
    InMemoryStorage,
    JournalFileBackend,
    JournalStorage,
    SQLStorage,
)
from tunelab.storages import RDBStorage

STORAGE_MODES: list[str] = ["inmemory", "sqlite", "cached_sqlite", "journal"]
"""The storage kinds :class:`StorageSupplier` can make without a server.

``"cached_sqlite"`` is Optuna's name for its cached SQLite storage; tunelab's SQL
storage needs no cache layer, so it is the same as ``"sqlite"`` here.
"""


class StorageSupplier:
    """A context manager yielding a new, empty storage, removed on exit.

    ``StorageSupplier("inmemory")`` gives an in-memory storage,
    ``StorageSupplier("sqlite")`` one in a temporary SQLite file,
    ``StorageSupplier("journal")`` a journal in a temporary file, and
    ``StorageSupplier("postgresql", url=...)`` one in an existing PostgreSQL
    database (the caller owns the database)::

        for mode in tunelab.testing.storages.STORAGE_MODES:
            with StorageSupplier(mode) as storage:
                study = tunelab.create_study(storage=storage)

    Args:
        storage_specifier: One of :data:`STORAGE_MODES`, or ``"postgresql"``.
        **kwargs: For ``"sqlite"``, what :class:`~tunelab.storages.RDBStorage`
            takes besides the URL (``engine_kwargs``, ``heartbeat_interval``...);
            for ``"postgresql"``, ``url`` (required) and ``engine_kwargs``.

    Raises:
        ValueError: An unknown specifier, or arguments it does not take.
    """

    def __init__(self, storage_specifier: str, **kwargs: Any) -> None:
        if storage_specifier not in (*STORAGE_MODES, "postgresql"):
            raise ValueError(
                f"storage_specifier must be one of {[*STORAGE_MODES, 'postgresql']}, "
                f"got {storage_specifier!r}"
            )
        self.storage_specifier = storage_specifier
        self.extra_args = kwargs
        self.storage: BaseStorage | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> BaseStorage:
        mode, args = self.storage_specifier, dict(self.extra_args)
        if mode in ("inmemory", "journal") and args:
            raise ValueError(f"the {mode} storage takes no arguments, got {sorted(args)}")
        if mode == "inmemory":
            self.storage = InMemoryStorage()
        elif mode in ("sqlite", "cached_sqlite", "journal"):
            self._directory = tempfile.TemporaryDirectory(prefix="tunelab-test-")
            path = os.path.join(self._directory.name, "storage")
            if mode == "journal":
                self.storage = JournalStorage(JournalFileBackend(path + ".log"))
            else:
                self.storage = RDBStorage(f"sqlite:///{path}.db", **args)
        else:
            if "url" not in args:
                raise ValueError('StorageSupplier("postgresql") needs url=...')
            self.storage = SQLStorage(args.pop("url"), **args)
        return self.storage

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None
