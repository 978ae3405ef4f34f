"""The journal storage under Optuna's module name (``optuna.storages.journal``)."""

from __future__ import annotations

from typing import NoReturn

from tunelab.storage import (
    BaseJournalBackend,
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
)

__all__ = [
    "BaseJournalBackend",
    "JournalFileBackend",
    "JournalFileOpenLock",
    "JournalFileSymlinkLock",
    "JournalStorage",
]


def redis_unavailable(name: str) -> NoReturn:
    """Say that Optuna's Redis journal backend has no counterpart here."""
    raise ImportError(
        f"{name}: tunelab has no Redis journal backend (Optuna's needs the 'redis' package "
        "and a Redis server); share a JournalFileBackend file, or a database URL, instead"
    )


def __getattr__(name: str) -> NoReturn:
    if name == "JournalRedisBackend":
        redis_unavailable(name)
    raise AttributeError(f"module 'tunelab.storages.journal' has no attribute {name!r}")
