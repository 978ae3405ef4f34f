"""A storage that is an append-only journal of operations, shared through a file.

Every write is one JSON line naming a storage operation and its arguments.
Each process keeps an in-memory replica of the studies and brings it up to
date by replaying the lines other processes appended since it last looked.
A write holds the journal's lock from that replay until its own line is
appended, and is applied to the replica first: an invalid write raises
before anything reaches the file, and every process replays the same lines
in the same order into the same state (ids, numbers, times, claims).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from typing import Any

from tunelab.exceptions import StorageError
from tunelab.space import BaseDistribution, distribution_from_json
from tunelab.storage._base import (
    BaseStorage,
    StudySummary,
    TrialLimitReached,
    check_new_trial_attrs,
    check_param_name,
    check_values,
    dumps_json,
    limit_reason,
    now,
)
from tunelab.storage._in_memory import InMemoryStorage
from tunelab.storage._journal_optuna import OptunaRecordReader, is_optuna_record
from tunelab.trial import FrozenTrial, StudyDirection, TrialState

_logger = logging.getLogger(__name__)

_LOCK_SUFFIX = ".lock"
# How long a waiting process sleeps between tries for the lock, at most.
_MAX_LOCK_SLEEP = 0.05


class BaseJournalBackend(ABC):
    """Where a :class:`JournalStorage` keeps its records: an ordered, append-only log.

    Records are numbered from 0 in the order they were appended. A backend
    must be safe for several processes: :meth:`lock` excludes every other
    holder (in any process) while it is held, and is re-entrant in the
    holding thread.
    """

    @abstractmethod
    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        """The complete records from number ``log_number_from`` on, in order.

        Raises:
            StorageError: A complete record cannot be read (it names where).
        """

    @abstractmethod
    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append records durably, after every record appended before."""

    @abstractmethod
    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the log exclusively (the storage replays and appends under it)."""


class BaseJournalFileLock(ABC):
    """A lock between processes made of a file next to the journal: ``<journal>.lock``.

    It works where ``fcntl`` locks do not (many NFS mounts): creating the
    lock file is atomic there. A lock file that stays in place, unchanged,
    for ``grace_period`` seconds is taken to belong to a process that died
    holding it and is removed.

    Args:
        filepath: The journal file the lock guards.
        grace_period: Seconds after which an unchanged lock file is broken;
            None waits for ever.

    Raises:
        ValueError: ``grace_period`` is not a positive number.
    """

    def __init__(self, filepath: str | os.PathLike[str], grace_period: float | None = 30) -> None:
        if grace_period is not None and (
            isinstance(grace_period, bool)
            or not isinstance(grace_period, int | float)
            or not grace_period > 0
        ):
            raise ValueError(
                f"grace_period must be a positive number or None, got {grace_period!r}"
            )
        self._target = os.fspath(filepath)
        self._lock_file = self._target + _LOCK_SUFFIX
        self.grace_period = grace_period

    @abstractmethod
    def _try_create(self) -> bool:
        """Create the lock file atomically; False if it exists already."""

    def acquire(self) -> bool:
        """Wait until the lock file is ours.

        Returns:
            True, once acquired.
        """
        sleep = 0.001
        seen: tuple[int, int] | None = None  # (inode, mtime) of the lock file we wait on
        seen_since = time.monotonic()
        while not self._try_create():
            if self.grace_period is not None:
                try:
                    info = os.lstat(self._lock_file)
                except FileNotFoundError:
                    continue  # released meanwhile: try again at once
                identity = (info.st_ino, info.st_mtime_ns)
                if identity != seen:
                    seen, seen_since = identity, time.monotonic()
                elif time.monotonic() - seen_since > self.grace_period:
                    _logger.warning(
                        "breaking the journal lock %s: unchanged for %g s, its holder died",
                        self._lock_file,
                        self.grace_period,
                    )
                    self._break()
                    seen = None
                    continue
            time.sleep(sleep)
            sleep = min(sleep * 2, _MAX_LOCK_SLEEP)
        return True

    def release(self) -> None:
        """Remove the lock file."""
        try:
            os.unlink(self._lock_file)
        except FileNotFoundError:
            _logger.warning(
                "the journal lock %s was broken while held: hold it for less than %s s",
                self._lock_file,
                self.grace_period,
            )

    def _break(self) -> None:
        # Renaming first means only one of several waiters removes the stale file.
        aside = f"{self._lock_file}.{uuid.uuid4().hex}.broken"
        try:
            os.rename(self._lock_file, aside)
        except FileNotFoundError:
            return
        os.unlink(aside)


class JournalFileSymlinkLock(BaseJournalFileLock):
    """A journal lock that is a symbolic link (atomic on NFSv2 and later).

    Args:
        filepath: The journal file the lock guards.
        grace_period: Seconds after which a lock left by a dead process is broken.
    """

    def _try_create(self) -> bool:
        try:
            os.symlink(self._target, self._lock_file)
        except FileExistsError:
            return False
        return True


class JournalFileOpenLock(BaseJournalFileLock):
    """A journal lock that is a file created exclusively (atomic on NFSv3 and later).

    Args:
        filepath: The journal file the lock guards.
        grace_period: Seconds after which a lock left by a dead process is broken.
    """

    def _try_create(self) -> bool:
        try:
            fd = os.open(self._lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        os.close(fd)
        return True


class JournalFileBackend(BaseJournalBackend):
    """A journal in one file of JSON lines, shared by processes on one machine or an NFS mount.

    A line without its final newline is a record still being written, or one
    whose writer was killed: readers leave it out, and the next writer (under
    the lock, so no writer is still busy with it) cuts it off before appending.
    A complete line that is not a JSON object is corruption and raises.

    Args:
        file_path: The journal file; created empty if missing.
        lock_obj: The lock between processes; a :class:`JournalFileSymlinkLock`
            on the file by default.

    Raises:
        StorageError: The file cannot be created or opened for appending.
    """

    def __init__(
        self, file_path: str | os.PathLike[str], lock_obj: BaseJournalFileLock | None = None
    ) -> None:
        self._path = os.fspath(file_path)
        self._file_lock = lock_obj if lock_obj is not None else JournalFileSymlinkLock(self._path)
        try:
            with open(self._path, "ab"):
                pass
        except OSError as exc:
            raise StorageError(f"cannot open journal file {self._path}: {exc.strerror}") from None
        self._thread_lock = threading.RLock()
        self._depth = 0
        # Records read so far and the byte offset where the next one starts.
        self._count = 0
        self._offset = 0
        # Where the last batch read or appended starts, to read it again cheaply.
        self._mark = (0, 0)

    def __repr__(self) -> str:
        return f"JournalFileBackend({self._path!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"file_path": self._path, "lock_obj": self._file_lock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["file_path"], state["lock_obj"])  # type: ignore[misc]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self._file_lock.acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file_lock.release()

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        with self._thread_lock:
            lines = self._new_lines(log_number_from)
        # Parsed outside the lock: a consumer that stops part-way does not keep it held.
        for number, line in lines:
            yield self._parse(number, line)

    def _new_lines(self, log_number_from: int) -> list[tuple[int, bytes]]:
        """Complete lines from ``log_number_from`` on, moving the read position past them."""
        if log_number_from < self._count:
            # An earlier record: read again from the last batch's start if it is not later.
            mark = self._mark if self._mark[0] <= log_number_from else (0, 0)
            self._count, self._offset = mark
        self._mark = (self._count, self._offset)
        with open(self._path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        # After the last newline: a record still being (or never to be) written.
        lines = data.split(b"\n")[:-1]
        out = []
        for line in lines:
            if self._count >= log_number_from:
                out.append((self._count, line))
            self._count += 1
            self._offset += len(line) + 1
        return out

    def _parse(self, number: int, line: bytes) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise StorageError(
                f"journal file {self._path} is corrupt at line {number + 1}: {exc}; "
                "the lines before it are intact: repair or remove that line to open it"
            ) from None
        if not isinstance(record, dict):
            raise StorageError(
                f"journal file {self._path} is corrupt at line {number + 1}: "
                f"a record must be a JSON object, got {type(record).__name__}"
            )
        return record

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(dumps_json(log) + "\n" for log in logs).encode()
        with self.lock():
            self._new_lines(self._count)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
            try:
                if os.fstat(fd).st_size > self._offset:
                    # A torn record of a writer that died: we hold the lock, nobody writes it.
                    os.ftruncate(fd, self._offset)
                view = memoryview(text)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._mark = (self._count, self._offset)
            self._count += len(logs)
            self._offset += len(text)


class _Replica(InMemoryStorage):
    """The journal's state in this process, stamped with the times the journal recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.stamp = now()

    def _now(self) -> dt.datetime:
        return self.stamp

    def has_stale_trials(self, study_id: int, grace_seconds: float) -> bool:
        """Whether :meth:`fail_stale_trials` would fail a trial now."""
        deadline = time.time() - grace_seconds
        with self._lock:
            return any(
                self._heartbeats.get(t.trial_id, deadline) < deadline
                for t in self._study(study_id).trials
                if t.state == TrialState.RUNNING
            )


# Operations a record may name: the replica's methods, with how to decode their arguments.
_DECODERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "create_new_study": lambda a: {
        **a,
        "directions": [StudyDirection[d] for d in a["directions"]],
    },
    "delete_study": dict,
    "set_study_attr": dict,
    "create_new_trial": lambda a: {**a, "state": TrialState[a["state"]]},
    "claim_waiting_trial": dict,
    "set_trial_param": lambda a: {
        **a,
        "distribution": distribution_from_json(a["distribution"]),
    },
    "set_trial_state_values": lambda a: {**a, "state": TrialState[a["state"]]},
    "set_trial_intermediate_value": dict,
    "set_trial_attr": dict,
    "record_heartbeat": dict,
    "fail_stale_trials": dict,
}


class JournalStorage(BaseStorage):
    """Studies kept as a journal of operations that several processes share.

    Each process replays the journal incrementally before it reads and
    appends to it under the backend's lock, so processes on one machine, or
    on several sharing an NFS directory, optimise one study without a
    database server. Times come from the writing process's clock.

    Example::

        storage = JournalStorage(JournalFileBackend("./journal.log"))
        study = tunelab.create_study(storage=storage, study_name="s", load_if_exists=True)

    Args:
        log_storage: Where the journal lives, e.g. a :class:`JournalFileBackend`.

    Raises:
        TypeError: ``log_storage`` is not a journal backend.
    """

    def __init__(self, log_storage: BaseJournalBackend) -> None:
        if not isinstance(log_storage, BaseJournalBackend):
            raise TypeError(
                "log_storage must be a journal backend such as JournalFileBackend(path), "
                f"got {type(log_storage).__name__}"
            )
        self._backend = log_storage
        self._lock = threading.RLock()
        self._rebuild()
        with self._lock:
            self._replay()

    def __getstate__(self) -> dict[str, Any]:
        return {"backend": self._backend}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["backend"])  # type: ignore[misc]

    def _replay(self) -> None:
        """Apply the records appended since the last replay (this thread holds ``_lock``)."""
        for record in self._backend.read_logs(self._replayed):
            if is_optuna_record(record):
                # Written by Optuna's JournalStorage (this file may have been Optuna's first).
                self._optuna_reader.apply(record)
            elif record.get("n") != self._replayed:
                # Appended by a writer whose lock was broken under it, after a record it
                # had not seen: every process skips it, and its writer was told so.
                _logger.warning(
                    "%r: record %d was written without the lock; skipped",
                    self._backend,
                    self._replayed + 1,
                )
            else:
                try:
                    self._apply(record)
                except Exception as exc:
                    raise StorageError(
                        f"{self._backend!r}: record {self._replayed + 1} cannot be replayed "
                        f"({type(exc).__name__}: {exc})"
                    ) from exc
            self._replayed += 1

    def _apply(self, record: dict[str, Any]) -> Any:
        op = record["op"]
        if op not in _DECODERS:
            raise ValueError(f"unknown operation {op!r}")
        self._replica.stamp = dt.datetime.fromisoformat(record["time"])
        return getattr(self._replica, op)(**_DECODERS[op](record["args"]))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the journal, up to date, for writes."""
        with self._lock, self._backend.lock():
            self._replay()
            yield

    def _commit(self, op: str, **args: Any) -> Any:
        """Apply one operation to the replica, then append it (inside :meth:`_writing`).

        An operation the replica refuses raises before anything is appended.

        Raises:
            StorageError: Another process appended meanwhile: the lock was broken
                while this one held it (it held it past the lock's grace period).
                The operation is not applied anywhere.
        """
        record = {"op": op, "time": now().isoformat(), "n": self._replayed, "args": args}
        result = self._apply(record)
        try:
            self._backend.append_logs([record])
            written = next(iter(self._backend.read_logs(self._replayed)), None)
        except BaseException:
            self._rebuild()
            raise
        if written != json.loads(dumps_json(record)):
            self._rebuild()
            raise StorageError(
                f"{self._backend!r}: another process wrote while this one held the lock "
                "(the lock was broken as stale: use a longer grace_period); "
                f"{op} was not applied"
            )
        self._replayed += 1
        return result

    def _rebuild(self) -> None:
        """Forget the replica, which may be ahead of the journal: replay it all next time."""
        self._replica, self._replayed = _Replica(), 0
        self._optuna_reader = OptunaRecordReader(self._replica)

    def _write(self, op: str, **args: Any) -> Any:
        with self._writing():
            return self._commit(op, **args)

    def _read(self) -> InMemoryStorage:
        self._replay()
        return self._replica

    # -- studies --
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str) -> int:
        names = [StudyDirection(d).name for d in directions]
        study_id: int = self._write("create_new_study", directions=names, study_name=study_name)
        return study_id

    def delete_study(self, study_id: int) -> None:
        self._write("delete_study", study_id=study_id)

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._lock:
            return self._read().get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._lock:
            return self._read().get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._lock:
            return self._read().get_study_directions(study_id)

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        dumps_json(value)
        self._write("set_study_attr", study_id=study_id, key=key, value=value, system=system)

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._read().get_study_attrs(study_id, system=system)

    def get_all_studies(self) -> list[StudySummary]:
        with self._lock:
            return self._read().get_all_studies()

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
        system_attrs = check_new_trial_attrs(system_attrs)
        for attrs in (system_attrs, user_attrs):
            dumps_json(attrs)
        limit = self._trial_limit(study_id, state)
        with self._writing():
            if limit is not None:
                trials = self._replica.get_all_trials(study_id)
                held = sum(t.state != TrialState.FAIL for t in trials)
                if held >= limit:
                    raise TrialLimitReached(limit_reason(held, limit))
            trial: FrozenTrial = self._commit(
                "create_new_trial",
                study_id=study_id,
                state=TrialState(state).name,
                system_attrs=system_attrs,
                user_attrs=user_attrs,
            )
            return trial

    def claim_waiting_trial(self, study_id: int) -> FrozenTrial | None:
        with self._writing():
            if not self._replica.get_all_trials(study_id, states=(TrialState.WAITING,)):
                return None  # nothing to claim: nothing to write
            trial: FrozenTrial | None = self._commit("claim_waiting_trial", study_id=study_id)
            return trial

    def set_trial_param(
        self, trial_id: int, name: str, internal_value: float, distribution: BaseDistribution
    ) -> None:
        check_param_name(name)
        self._write(
            "set_trial_param",
            trial_id=trial_id,
            name=name,
            internal_value=float(internal_value),
            distribution=distribution.to_json(),
        )

    def set_trial_state_values(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        *,
        fail_reason: str | None = None,
    ) -> None:
        self._write(
            "set_trial_state_values",
            trial_id=trial_id,
            state=TrialState(state).name,
            values=check_values(values, state),
            fail_reason=fail_reason,
        )

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        self._write(
            "set_trial_intermediate_value", trial_id=trial_id, step=int(step), value=float(value)
        )

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        dumps_json(value)
        self._write("set_trial_attr", trial_id=trial_id, key=key, value=value, system=system)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return self._read().get_trial(trial_id)

    def get_trial_id_from_number(self, study_id: int, number: int) -> int:
        with self._lock:
            return self._read().get_trial_id_from_number(study_id, number)

    def get_all_trials(
        self, study_id: int, *, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        with self._lock:
            return self._read().get_all_trials(study_id, states=states)

    # -- heartbeats --
    def record_heartbeat(self, trial_ids: Sequence[int]) -> None:
        self._write("record_heartbeat", trial_ids=[int(t) for t in trial_ids])

    def fail_stale_trials(
        self, study_id: int, grace_seconds: float, *, retries: int = 0
    ) -> list[FrozenTrial]:
        with self._writing():
            # Every check would otherwise add a record: write only when one will fail.
            if not self._replica.has_stale_trials(study_id, grace_seconds):
                return []
            # One record fails the trials and queues their retries, as one transaction does.
            failed: list[FrozenTrial] = self._commit(
                "fail_stale_trials",
                study_id=study_id,
                grace_seconds=float(grace_seconds),
                retries=int(retries),
            )
            return failed
