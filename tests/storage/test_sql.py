"""SQL storage specifics: persistence, schema versions, concurrency, crashes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import tunelab as tl
from tunelab.exceptions import SchemaVersionError, StorageError
from tunelab.storage import SQLStorage
from tunelab.storage import _schema as schema
from tunelab.trial import TrialState


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
