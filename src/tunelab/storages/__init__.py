"""Storages under Optuna's module name (``optuna.storages``).

``RDBStorage`` is tunelab's SQL storage with Optuna's constructor. Its
database schema is tunelab's own: a database written by Optuna cannot be
opened here (copy studies across with Optuna's ``copy_study`` into a
tunelab-readable form, or re-run). Heartbeats and retries of failed trials
are study settings in tunelab: ``create_study(heartbeat_interval=...,
retry_failed=...)``. ``JournalStorage`` and its file backend and locks are
here and in :mod:`tunelab.storages.journal`, under Optuna's names; the
journal format is tunelab's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from tunelab.storage import (
    BaseJournalBackend,
    BaseStorage,
    InMemoryStorage,
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
    SQLStorage,
    get_storage,
)
from tunelab.storages import journal

# Optuna's names from before its ``journal`` module (still accepted by Optuna 5).
BaseJournalLogStorage = BaseJournalBackend
JournalFileStorage = JournalFileBackend

__all__ = [
    "BaseJournalLogStorage",
    "BaseStorage",
    "InMemoryStorage",
    "JournalFileOpenLock",
    "JournalFileStorage",
    "JournalFileSymlinkLock",
    "JournalStorage",
    "RDBStorage",
    "get_storage",
    "journal",
]


class RDBStorage(SQLStorage):
    """A SQL database storage (SQLite, PostgreSQL), built the way Optuna builds one.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///example.db``.
        engine_kwargs: Extra arguments for :func:`sqlalchemy.create_engine`.
        skip_compatibility_check: Accepted for Optuna code; the schema
            version is always checked.
        heartbeat_interval: Not a storage setting in tunelab: pass
            ``heartbeat_interval`` to :func:`tunelab.create_study` instead.
        grace_period: Likewise a study setting in tunelab.
        failed_trial_callback: Not supported: use
            ``create_study(retry_failed=n)`` to re-queue trials whose worker died.
        skip_table_creation: Accepted for Optuna code; missing tables are
            created when needed.

    Raises:
        ValueError: A heartbeat or failed-trial argument was given.
        StorageError: The database cannot be opened.
    """

    def __init__(
        self,
        url: str,
        engine_kwargs: dict[str, Any] | None = None,
        skip_compatibility_check: bool = False,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        failed_trial_callback: Callable[..., None] | None = None,
        skip_table_creation: bool = False,
    ) -> None:
        for name, value in (
            ("heartbeat_interval", heartbeat_interval),
            ("grace_period", grace_period),
            ("failed_trial_callback", failed_trial_callback),
        ):
            if value is not None:
                raise ValueError(
                    f"RDBStorage({name}=...) is a study setting in tunelab: use "
                    "create_study(heartbeat_interval=..., grace_period=..., retry_failed=...)"
                )
        super().__init__(url, engine_kwargs=engine_kwargs)


def __getattr__(name: str) -> NoReturn:
    if name == "JournalRedisStorage":
        journal.redis_unavailable(name)
    raise AttributeError(f"module 'tunelab.storages' has no attribute {name!r}")
