"""SQL storage specifics: persistence, schema versions, concurrency, crashes."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tunelab as tl
from tunelab.exceptions import SchemaVersionError, StorageError
from tunelab.space import FloatDistribution
from tunelab.storage import SQLStorage
from tunelab.storage import _schema as schema
from tunelab.trial import StudyDirection, TrialState


def test_sqlite_persists_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = tl.create_study(study_name="s", storage=url, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    best = study.best_value
    reopened = tl.load_study(study_name="s", storage=url)
    assert len(reopened.trials) == 5
    assert reopened.best_value == best
    assert reopened.direction == tl.StudyDirection.MAXIMIZE


def test_newer_schema_is_refused_with_instructions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SQLStorage(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(schema.schema_version).values(version=schema.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="Upgrade tunelab"):
        SQLStorage(url)


def test_older_schema_is_refused_with_instructions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SQLStorage(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(schema.schema_version).values(version=0))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="export"):
        SQLStorage(url)


def test_bad_urls_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="invalid storage URL"):
        SQLStorage("not a url")
    with pytest.raises(StorageError, match="missing-dir.*unable to open"):
        SQLStorage(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite'}")
    with pytest.raises(ValueError, match="synchronous"):
        SQLStorage(f"sqlite:///{tmp_path / 'db.sqlite'}?synchronous=SOMETIMES")


def test_plain_postgresql_url_uses_psycopg3(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    study = tl.create_study(storage=plain)
    study.optimize(lambda t: t.suggest_int("x", 0, 3), n_trials=2)
    assert len(study.trials) == 2


def _worker(url: str, n: int, seed: int) -> None:
    study = tl.load_study(
        study_name="shared", storage=url, sampler=tl.samplers.RandomSampler(seed=seed)
    )
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=n)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_processes_share_a_study_without_losing_trials(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    tl.create_study(study_name="shared", storage=url)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(url, 25, seed)) for seed in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    trials = tl.load_study(study_name="shared", storage=url).trials
    assert sorted(t.number for t in trials) == list(range(100))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.trial_id for t in trials}) == 100


_CRASHING_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import tunelab as tl

    study = tl.create_study(study_name="crash", storage=sys.argv[1], load_if_exists=True,
                            retry_failed=1, heartbeat_interval=0.2, grace_period=1.0)

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 3:
            print("hang", flush=True)
            time.sleep(600)
        return x

    study.optimize(objective, n_trials=10)
    """
)


@pytest.mark.slow
def test_killed_process_loses_only_the_trial_in_flight_and_it_is_retried(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    script = tmp_path / "crash.py"
    script.write_text(_CRASHING_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "hang"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    study = tl.load_study(study_name="crash", storage=url)
    before = study.trials
    assert [t.state for t in before[:3]] == [TrialState.COMPLETE] * 3
    assert before[3].state == TrialState.RUNNING
    hung_x = before[3].params["x"]
    time.sleep(1.2)  # the grace period passes with no heartbeat
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    after = study.trials
    assert after[3].state == TrialState.FAIL
    assert "heartbeat" in (after[3].fail_reason or "")
    retry = after[4]
    assert retry.state == TrialState.COMPLETE
    assert retry.params["x"] == hung_x
    assert retry.system_attrs["retry_of"] == 3
    assert [t.values for t in after[:3]] == [t.values for t in before[:3]]


def _claim_or_create(url: str, study_id: int, rounds: int, start: Any, out: Any) -> None:
    storage = SQLStorage(url)
    start.wait(60)
    got: list[int] = []
    try:
        for _ in range(rounds):
            trial = storage.claim_waiting_trial(study_id) or storage.create_new_trial(study_id)
            got.append(trial.trial_id)
            storage.set_trial_state_values(trial.trial_id, TrialState.COMPLETE, [0.0])
    except Exception as exc:  # reported to the test, which fails on it
        got.append(-1)
        print(f"worker failed: {exc!r}", file=sys.stderr)
    storage.close()
    out.put(got)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_claims_take_each_queued_trial_once(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    storage = SQLStorage(url)
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "queue")
    queued = {
        storage.create_new_trial(sid, state=TrialState.WAITING, system_attrs={"i": i}).trial_id
        for i in range(12)
    }
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_claim_or_create, args=(url, sid, 10, start, out)) for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    got = [tid for _ in procs for tid in out.get(timeout=120)]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert -1 not in got  # no worker failed (finishing a trial another worker finished first)
    assert len(got) == len(set(got)) == 30  # no trial handed to two workers
    assert queued <= set(got)  # every queued trial was claimed (and, above, only once)
    trials = storage.get_all_trials(sid)
    assert [t.number for t in trials] == list(range(30))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.system_attrs["i"] for t in trials if t.trial_id in queued) == list(range(12))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_failing_statement_leaves_its_transaction_unwritten(
    kind: str, storage_url_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SQLStorage(storage_url_factory(kind))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "a")
    running = storage.create_new_trial(sid)

    def broken(n_params: int) -> str:
        return f"INSERT INTO no_such_table VALUES ({storage._sql.marks(n_params)})"

    # The trial row is written before its attributes, in the same transaction.
    monkeypatch.setattr(storage._sql, "insert_trial_attr", broken(4))
    with pytest.raises(StorageError, match="no_such_table"):
        storage.create_new_trial(sid, system_attrs={"k": 1})
    # The state change is written before the fail reason.
    monkeypatch.setattr(storage._sql, "upsert_attr", broken(4))
    with pytest.raises(StorageError, match="no_such_table"):
        storage.set_trial_state_values(running.trial_id, TrialState.FAIL, fail_reason="boom")
    # The trials go before the study.
    statements = storage._sql.delete_study
    monkeypatch.setattr(storage._sql, "delete_study", (*statements[:4], broken(1)))
    with pytest.raises(StorageError, match="no_such_table"):
        storage.delete_study(sid)
    monkeypatch.undo()

    trials = storage.get_all_trials(sid)
    assert [(t.number, t.state, t.fail_reason) for t in trials] == [(0, TrialState.RUNNING, None)]
    assert storage.create_new_trial(sid).number == 1
    storage.close()


def test_threads_share_one_in_memory_database() -> None:
    storage = SQLStorage("sqlite://")
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "a")
    dist = FloatDistribution(0, 1)

    def work(_: int) -> None:
        for _ in range(50):
            tid = storage.create_new_trial(sid).trial_id
            storage.set_trial_param(tid, "x", 0.5, dist)
            storage.set_trial_state_values(tid, TrialState.COMPLETE, [0.5])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, inside transactions too
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
    finally:
        sys.setswitchinterval(interval)
    trials = storage.get_all_trials(sid)
    assert [t.number for t in trials] == list(range(200))
    assert all(t.params == {"x": 0.5} and t.state == TrialState.COMPLETE for t in trials)


def _kill_other_backends(url: str) -> int:
    """Terminate every other session on the database and wait until they are gone."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t"
        ).scalar_one()
    engine.dispose()
    return int(killed)


def test_postgres_connections_lost_while_idle_are_replaced(
    storage_url_factory: Callable[[str], str],
) -> None:
    url = storage_url_factory("postgres")
    storage = SQLStorage(url)
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "a")
    dist = FloatDistribution(0, 1)
    calls: list[Callable[[int], object]] = [
        lambda tid: storage.create_new_trial(sid),  # BEGIN fails: nothing was sent
        lambda tid: storage.set_trial_param(tid, "x", 0.25, dist),  # an idempotent upsert
        lambda tid: storage.get_trial(tid),  # a read
        lambda tid: storage.set_trial_state_values(tid, TrialState.COMPLETE, [1.0]),
    ]
    tid = storage.create_new_trial(sid).trial_id
    for call in calls:
        assert _kill_other_backends(url) == 1  # the storage's pooled connection
        call(tid)
    trials = storage.get_all_trials(sid)
    assert [(t.number, t.state, t.params) for t in trials] == [
        (0, TrialState.COMPLETE, {"x": 0.25}),
        (1, TrialState.RUNNING, {}),
    ]
    storage.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_forked_child_leaves_the_parents_connections_alone(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    storage = SQLStorage(storage_url_factory(kind))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "a")
    storage.create_new_trial(sid)
    (parents,) = [conn.dbapi for conn in storage._db._idle]  # white box: the pooled connection
    backend = parents.info.backend_pid if kind == "postgres" else None
    pid = os.fork()
    if pid == 0:  # the child: work on its own connection, close it, exit without cleanup
        ok = storage.create_new_trial(sid).number == 1
        ok = ok and all(conn.dbapi is not parents for conn in storage._db._idle)
        storage.close()
        gc.collect()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert storage.create_new_trial(sid).number == 2
    # The same connection, still open and not replaced: the child neither used nor closed it.
    assert [conn.dbapi for conn in storage._db._idle] == [parents]
    if backend is not None:
        assert parents.info.backend_pid == backend and not parents.closed
    assert [t.number for t in storage.get_all_trials(sid)] == [0, 1, 2]
    storage.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_cached_reader_sees_other_writers_changes(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    writer, reader = SQLStorage(url), SQLStorage(url)
    sid = writer.create_new_study([StudyDirection.MINIMIZE], "a")
    other = writer.create_new_study([StudyDirection.MINIMIZE], "b")
    first, second = writer.create_new_trial(sid), writer.create_new_trial(sid)
    writer.set_trial_state_values(first.trial_id, TrialState.COMPLETE, [1.0])
    assert [t.state for t in reader.get_all_trials(sid)] == [
        TrialState.COMPLETE,
        TrialState.RUNNING,
    ]

    writer.create_new_trial(other)  # another study's trial, newer than all of "a"'s
    writer.set_trial_param(second.trial_id, "x", 0.5, FloatDistribution(0, 1))
    writer.set_trial_state_values(second.trial_id, TrialState.PRUNED, [2.0])
    third = writer.create_new_trial(sid)
    trials = reader.get_all_trials(sid)
    assert [(t.number, t.state) for t in trials] == [
        (0, TrialState.COMPLETE),
        (1, TrialState.PRUNED),
        (2, TrialState.RUNNING),
    ]
    assert trials[1].params == {"x": 0.5} and trials[2].trial_id == third.trial_id
    assert [t.number for t in reader.get_all_trials(other)] == [0]
    writer.close()
    reader.close()
