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

import warnings
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

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
from tunelab.storage._base import retry_attrs
from tunelab.storages import journal
from tunelab.trial import RETRY_HISTORY_KEY, RETRY_OF_KEY, FrozenTrial, TrialState

if TYPE_CHECKING:
    from tunelab.study import Study

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
    "RetryFailedTrialCallback",
    "RetryHeartbeatStaleTrialCallback",
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
        heartbeat_interval: Seconds between liveness signals of running trials, for
            studies created on this storage (a study setting in tunelab:
            ``create_study(heartbeat_interval=...)`` says the same and wins).
        grace_period: Seconds without a heartbeat after which a running trial is
            failed (3 intervals by default; Optuna's default is 2).
        heartbeat_stale_trial_callback: None, or a
            :class:`RetryHeartbeatStaleTrialCallback`: a trial failed by a lapsed
            heartbeat is queued again with the same parameters, up to its ``max_retry``
            times (``create_study(retry_failed=n)``).
        failed_trial_callback: The deprecated name of ``heartbeat_stale_trial_callback``.
        skip_table_creation: Accepted for Optuna code; missing tables are
            created when needed.

    Raises:
        ValueError: A setting is out of range, or a callback is not a
            :class:`RetryHeartbeatStaleTrialCallback` (or both callbacks are given).
        StorageError: The database cannot be opened.
    """

    def __init__(
        self,
        url: str,
        engine_kwargs: dict[str, Any] | None = None,
        skip_compatibility_check: bool = False,
        *,
        heartbeat_interval: float | None = None,
        grace_period: float | None = None,
        heartbeat_stale_trial_callback: RetryHeartbeatStaleTrialCallback | None = None,
        failed_trial_callback: RetryHeartbeatStaleTrialCallback | None = None,
        skip_table_creation: bool = False,
    ) -> None:
        defaults: dict[str, Any] = {}
        if heartbeat_interval is not None:
            defaults["heartbeat_interval"] = heartbeat_interval
        if grace_period is not None:
            defaults["grace_period"] = grace_period
        callback = _one_callback(heartbeat_stale_trial_callback, failed_trial_callback)
        if callback is not None:
            defaults["retry_failed"] = callback.retries
        self.study_defaults = MappingProxyType(defaults)
        super().__init__(url, engine_kwargs=engine_kwargs)


def _one_callback(stale: Any, failed: Any) -> RetryHeartbeatStaleTrialCallback | None:
    if stale is not None and failed is not None:
        raise ValueError(
            "give heartbeat_stale_trial_callback or its deprecated name failed_trial_callback, "
            "not both"
        )
    callback = failed if stale is None else stale
    if callback is not None and not isinstance(callback, RetryHeartbeatStaleTrialCallback):
        raise ValueError(
            "RDBStorage accepts a RetryHeartbeatStaleTrialCallback only (tunelab queues the "
            f"retry itself), got {callback!r}"
        )
    return callback


class RetryHeartbeatStaleTrialCallback:
    """Queue a trial again when its worker stopped sending heartbeats (Optuna's name).

    In tunelab the study itself re-queues such trials; this object carries the
    setting from Optuna code (``RDBStorage(failed_trial_callback=...)``) and reads
    a retried trial's history.

    Args:
        max_retry: Times one configuration is retried; None retries without limit.
        inherit_intermediate_values: Must stay False: a retry starts its reports afresh.

    Raises:
        ValueError: ``max_retry`` is negative, or intermediate values would be inherited.
    """

    # Unlimited in practice: a trial only fails this way when its worker dies.
    _UNLIMITED = 2**31 - 1

    def __init__(
        self, max_retry: int | None = None, inherit_intermediate_values: bool = False
    ) -> None:
        if max_retry is not None and (
            isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0
        ):
            raise ValueError(f"max_retry must be None or an integer >= 0, got {max_retry!r}")
        if inherit_intermediate_values:
            raise ValueError(
                "inherit_intermediate_values=True is not supported: a retried trial reports "
                "its intermediate values afresh"
            )
        self.max_retry = max_retry
        self.inherit_intermediate_values = inherit_intermediate_values

    @property
    def retries(self) -> int:
        """The study's ``retry_failed`` setting this callback stands for."""
        return self._UNLIMITED if self.max_retry is None else self.max_retry

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        """Queue ``trial`` again, with its parameters and user attributes, as Optuna does.

        The study calls this itself for trials whose heartbeat lapsed; Optuna code
        may call it on any failed trial. Nothing is queued once the trial's chain
        of retries has reached ``max_retry``.
        """
        retry = retry_attrs(trial, self.retries)
        if retry is None:
            return
        storage = study._storage
        queued = storage.create_new_trial(
            study._study_id, state=TrialState.WAITING, system_attrs=retry[0], user_attrs=retry[1]
        )
        # Shown on the queued trial already, as on Optuna's (its objective gets the same).
        for name, value in trial.params.items():
            distribution = trial.distributions[name]
            storage.set_trial_param(
                queued.trial_id, name, distribution.to_internal(value), distribution
            )

    @staticmethod
    def retried_trial_number(trial: FrozenTrial) -> int | None:
        """The number of the failed trial that ``trial`` retries, or None."""
        number = trial.system_attrs.get(RETRY_OF_KEY)
        return None if number is None else int(number)

    @staticmethod
    def retry_history(trial: FrozenTrial) -> list[int]:
        """Numbers of the failed trials before ``trial`` in its chain of retries, oldest first."""
        return [int(n) for n in trial.system_attrs.get(RETRY_HISTORY_KEY, ())]


class RetryFailedTrialCallback(RetryHeartbeatStaleTrialCallback):
    """Deprecated name of :class:`RetryHeartbeatStaleTrialCallback` (as in Optuna 4.9+)."""

    def __init__(
        self, max_retry: int | None = None, inherit_intermediate_values: bool = False
    ) -> None:
        warnings.warn(
            "RetryFailedTrialCallback is deprecated (as in Optuna since 4.9); use "
            "RetryHeartbeatStaleTrialCallback",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(max_retry, inherit_intermediate_values)


def __getattr__(name: str) -> NoReturn:
    if name == "JournalRedisStorage":
        journal.redis_unavailable(name)
    raise AttributeError(f"module 'tunelab.storages' has no attribute {name!r}")
