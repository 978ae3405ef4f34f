"""The journal storage: Optuna's names, a shared file, torn and corrupt lines.

The storage contract itself runs on the journal through the ``storage`` fixture
(tests/storage/test_contract.py and its neighbours).
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunelab as tl
from tunelab.exceptions import DuplicatedStudyError, StorageError
from tunelab.samplers import RandomSampler
from tunelab.storage import (
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
    TrialLimitReached,
)
from tunelab.trial import StudyDirection, TrialState


def _journal(path: Path, lock: str = "symlink") -> JournalStorage:
    lock_obj = (JournalFileSymlinkLock if lock == "symlink" else JournalFileOpenLock)(path)
    return JournalStorage(JournalFileBackend(path, lock_obj=lock_obj))


def _objective(trial: tl.Trial) -> float:
    return trial.suggest_float("x", -1.0, 1.0) ** 2 + trial.suggest_int("k", 0, 100)


def test_optuna_names_build_a_journal_study_another_object_reads(tmp_path: Path) -> None:
    import tunelab as optuna

    path = str(tmp_path / "journal.log")
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    assert optuna.storages.get_storage(storage) is storage
    study = optuna.create_study(storage=storage, study_name="s", sampler=RandomSampler(seed=0))
    study.set_user_attr("note", [1, 2])
    study.optimize(_objective, n_trials=8)
    # Optuna's older names, and a storage object that only reads the file.
    other = optuna.storages.JournalStorage(
        optuna.storages.JournalFileStorage(
            path, lock_obj=optuna.storages.JournalFileOpenLock(path, grace_period=5)
        )
    )
    again = optuna.load_study(study_name="s", storage=other)
    assert again.trials == study.trials
    assert again.user_attrs == {"note": [1, 2]}
    assert again.best_trial.datetime_complete == study.best_trial.datetime_complete
    assert optuna.storages.BaseJournalLogStorage is optuna.storages.journal.BaseJournalBackend


def test_a_refused_write_appends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    storage = _journal(path)
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    trial = storage.create_new_trial(sid)
    storage.set_trial_state_values(trial.trial_id, TrialState.COMPLETE, [1.0])
    size = path.stat().st_size
    with pytest.raises(DuplicatedStudyError):
        storage.create_new_study([StudyDirection.MINIMIZE], "s")
    with pytest.raises(ValueError, match="NaN"):
        storage.set_trial_state_values(trial.trial_id, TrialState.COMPLETE, [float("nan")])
    with pytest.raises(tl.exceptions.UpdateFinishedTrialError):
        storage.set_trial_attr(trial.trial_id, "k", 1)
    with pytest.raises(TypeError, match="JSON"):
        storage.set_study_attr(sid, "k", object())
    storage.limit_trials(sid, 1)
    with pytest.raises(TrialLimitReached):
        storage.create_new_trial(sid)
    assert path.stat().st_size == size
    assert _journal(path).get_all_trials(sid) == storage.get_all_trials(sid)


def test_a_torn_last_line_is_left_out_and_cut_off_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    storage = _journal(path)
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    first = storage.create_new_trial(sid)
    storage.set_trial_state_values(first.trial_id, TrialState.COMPLETE, [1.0])
    whole = path.read_bytes()
    # A writer killed part-way through its record of a second trial's completion.
    second = storage.create_new_trial(sid)
    storage.set_trial_state_values(second.trial_id, TrialState.COMPLETE, [2.0])
    torn = path.read_bytes()
    last_line_start = torn.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(torn[: last_line_start + (len(torn) - last_line_start) // 2])

    fresh = _journal(path)
    assert [t.state for t in fresh.get_all_trials(sid)] == [TrialState.COMPLETE, TrialState.RUNNING]
    fresh.set_trial_state_values(second.trial_id, TrialState.COMPLETE, [3.0])
    assert path.read_bytes().startswith(whole)  # nothing complete was lost
    assert all(line.endswith(b"}") for line in path.read_bytes().splitlines())
    reread = _journal(path).get_all_trials(sid)
    assert [t.values for t in reread] == [[1.0], [3.0]]


def test_a_corrupt_middle_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    storage = _journal(path)
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    for _ in range(3):
        storage.create_new_trial(sid)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"op": "create_new_tri\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(StorageError, match=rf"journal file {path} is corrupt at line 3"):
        _journal(path)
    lines[2] = b"[1, 2]\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(StorageError, match="line 3: a record must be a JSON object"):
        _journal(path)


class _IntrudedBackend(JournalFileBackend):
    """A file backend whose next append comes right after another process's write."""

    intruder: Callable[[], object] | None = None

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        intruder, self.intruder = self.intruder, None
        if intruder is not None:
            intruder()
        super().append_logs(logs)


def test_a_write_made_while_the_lock_was_broken_is_refused_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    backend = _IntrudedBackend(path)
    ours = JournalStorage(backend)
    sid = ours.create_new_study([StudyDirection.MINIMIZE], "s")
    # The other process took the lock as stale (its own lock file stands for that).
    other = JournalStorage(JournalFileBackend(path, JournalFileOpenLock(tmp_path / "broken")))
    backend.intruder = lambda: other.create_new_trial(sid, user_attrs={"by": "other"})
    with pytest.raises(StorageError, match="another process wrote while this one held the lock"):
        ours.create_new_trial(sid, user_attrs={"by": "us"})
    for storage in (ours, other, _journal(path)):
        assert [(t.number, t.user_attrs) for t in storage.get_all_trials(sid)] == [
            (0, {"by": "other"})
        ]
    assert ours.create_new_trial(sid).number == 1  # the journal goes on
    assert len(path.read_text().splitlines()) == 4  # the refused record stays, skipped


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="log_storage must be a journal backend"):
        JournalStorage("./journal.log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grace_period must be a positive number or None, got 0"):
        JournalFileSymlinkLock("./journal.log", grace_period=0)
    with pytest.raises(StorageError, match=f"cannot open journal file {tmp_path}: Is a directory"):
        JournalFileBackend(tmp_path)


def test_the_storage_pickles_and_the_copy_sees_later_writes(tmp_path: Path) -> None:
    storage = _journal(tmp_path / "journal.log", lock="open")
    copy = pickle.loads(pickle.dumps(storage))
    sid = storage.create_new_study([StudyDirection.MAXIMIZE], "s")
    copy.create_new_trial(sid)
    assert [t.number for t in storage.get_all_trials(sid)] == [0]


def _work_in_process(path: str, n_trials: int, limit: int) -> tuple[list[int], int]:
    """Optimise study "s"; then create trials of study "limited" until the limit refuses.

    Returns the numbers of the trials this process ran and how many it created.
    """
    storage = _journal(Path(path))
    study = tl.load_study(study_name="s", storage=storage, sampler=RandomSampler())
    numbers = []

    def objective(trial: tl.Trial) -> float:
        numbers.append(trial.number)
        return _objective(trial)

    study.optimize(objective, n_trials=n_trials)
    sid = storage.get_study_id_from_name("limited")
    storage.limit_trials(sid, limit)
    created = 0
    while True:
        try:
            storage.create_new_trial(sid)
        except TrialLimitReached:
            return numbers, created
        created += 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_processes_share_one_journal_without_losing_a_trial(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    study = tl.create_study(study_name="s", storage=_journal(path))
    for k in range(10):
        study.enqueue_trial({"k": k})
    tl.create_study(study_name="limited", storage=_journal(path))
    with mp.get_context("spawn").Pool(2) as pool:
        (ran_a, created_a), (ran_b, created_b) = pool.starmap(
            _work_in_process, [(str(path), 20, 30)] * 2
        )
    assert sorted(ran_a + ran_b) == list(range(40))  # each number once, in exactly one process
    storage = _journal(path)
    trials = storage.get_all_trials(storage.get_study_id_from_name("s"))
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.trial_id for t in trials}) == 40
    assert Counter(t.params["k"] for t in trials[:10]) == Counter(range(10))  # queued: run once
    # The trial limit held between the processes.
    assert created_a + created_b == 30
    assert len(storage.get_all_trials(storage.get_study_id_from_name("limited"))) == 30
    assert not Path(f"{path}.lock").exists()


def test_the_redis_backend_names_say_why_they_are_missing() -> None:
    with pytest.raises(ImportError, match="JournalRedisBackend: tunelab has no Redis journal"):
        from tunelab.storages.journal import JournalRedisBackend  # noqa: F401
    with pytest.raises(ImportError, match="'redis' package"):
        tl.storages.JournalRedisStorage  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        tl.storages.Nope  # type: ignore[attr-defined]  # noqa: B018
