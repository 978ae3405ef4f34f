"""Worker processes under faults: OpenMP in the parent, stuck trials, kill -9 of either side."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunelab as tl
from tests.faults import procs
from tunelab.storage import get_storage
from tunelab.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def _run_child(mode: str, url: str, n_trials: int = 4) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults._study_proc", mode, url, str(n_trials)],
        cwd=ROOT,
        env=_child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(240)
def test_workers_start_after_the_parent_used_openmp(tmp_path: Path) -> None:
    child = _run_child("openmp", f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        out, _ = child.communicate(timeout=230)
    finally:
        child.kill()
    assert child.returncode == 0
    assert out.split() == ["COMPLETE"] * 2


def _stuck(trial: tl.BaseTrial) -> float:
    trial.suggest_float("x", 0, 1)
    time.sleep(3600)
    return 0.0


@pytest.mark.timeout(90)
def test_timeout_ends_stuck_workers_and_fails_their_trials() -> None:
    study = tl.create_study()
    study.optimize(_stuck, timeout=10, n_jobs=2, backend="process")
    trials = study.trials
    assert 1 <= len(trials) <= 2
    for trial in trials:
        assert trial.state == TrialState.FAIL
        assert (trial.fail_reason or "").startswith(
            "timeout: still running 2 s after optimize's timeout of 10 s"
        )


class _KillingSampler(tl.samplers.RandomSampler):
    """Kills the worker of a trial marked 'victim' while that worker waits for this suggestion."""

    def sample_independent(self, study: Any, trial: tl.FrozenTrial, name: str, dist: Any) -> Any:
        pid = trial.user_attrs.get("victim")
        if pid is not None and name == "x":
            os.kill(pid, signal.SIGKILL)
            procs.wait_gone([pid], timeout=10)
        return super().sample_independent(study, trial, name, dist)


def _victim_and_healthy(trial: tl.BaseTrial) -> float:
    if trial.number == 0:
        trial.suggest_float("y", 0, 1)  # trial 1 starts while this one runs
        time.sleep(1.5)
    elif trial.number == 1:
        trial.set_user_attr("victim", os.getpid())
    return trial.suggest_float("x", 0, 1)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_worker_killed_while_waiting_for_a_suggestion_fails_only_its_trial(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    study = tl.create_study(storage=storage_url_factory(kind), sampler=_KillingSampler(seed=0))
    study.optimize(_victim_and_healthy, n_trials=6, n_jobs=2, backend="process")
    trials = study.trials
    assert len(trials) == 6
    assert trials[1].state == TrialState.FAIL
    assert trials[1].fail_reason == (
        "the worker process running the trial died (killed by SIGKILL)"
    )
    assert [t.number for t in trials if t.state == TrialState.COMPLETE] == [0, 2, 3, 4, 5]


def _running_pids(study: tl.Study) -> list[int]:
    return [
        t.user_attrs["pid"]
        for t in study.get_trials(states=(TrialState.RUNNING,))
        if "pid" in t.user_attrs
    ]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_workers_killed_at_random_moments_lose_only_their_trials(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    from tests.faults._study_proc import steps

    url = storage_url_factory(kind)
    study = tl.create_study(storage=url)
    watcher = tl.load_study(study_name=study.study_name, storage=url)
    rng = random.Random(1)
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and len(killed) < 4:
            time.sleep(rng.uniform(0.1, 0.5))
            pids = _running_pids(watcher)
            if pids:
                pid = rng.choice(pids)
                if procs.kill(pid):
                    killed.append(pid)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        study.optimize(steps, n_trials=24, n_jobs=2, backend="process")
    finally:
        done.set()
        thread.join()
    trials = study.trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert killed, "the killer never found a running trial"
    assert len(trials) == 24 and not study.get_trials(states=(TrialState.RUNNING,))
    assert 1 <= len(failed) <= len(killed)
    assert all("died (killed by SIGKILL)" in (t.fail_reason or "") for t in failed)
    assert all(t.state == TrialState.COMPLETE for t in trials if t not in failed)


def _workers_started(child: subprocess.Popen[str], url: str) -> list[int]:
    """Wait until both workers of the child run a trial; return the child's descendants."""
    assert child.stdout is not None and child.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 60
    storage = get_storage(url)  # reads only: opening the study would fail stale trials
    while True:
        trials = storage.get_all_trials(storage.get_study_id_from_name("fault"))
        if sum("pid" in t.user_attrs for t in trials) == 2:
            break
        assert time.monotonic() < deadline, "the workers never started their trials"
        time.sleep(0.5)
    family = procs.descendants(child.pid)
    assert {t.user_attrs["pid"] for t in trials} <= set(family)
    return family


@pytest.mark.timeout(120)
def test_killed_parent_takes_its_workers_along_and_its_trials_fail_on_load(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    child = _run_child("sleeper", url)
    try:
        family = _workers_started(child, url)
    finally:
        child.kill()
        child.wait()
    assert procs.wait_gone(family, timeout=10) == []
    time.sleep(3.5)  # the study's grace period of 3 s without a heartbeat
    shown = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "studies", "show", "fault", "--storage", url],
        cwd=ROOT,
        env={**_child_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "(2 fail)" in shown.stdout
    for trial in tl.load_study(study_name="fault", storage=url).trials:
        assert trial.state == TrialState.FAIL
        assert "heartbeat" in (trial.fail_reason or "")


@pytest.mark.timeout(120)
def test_a_killed_workers_trial_is_retried_with_its_params_when_the_study_says_so() -> None:
    from tests.execution import objectives

    study = tl.create_study(retry_failed=1)
    stop = threading.Event()

    def kill_victim() -> None:
        while not stop.wait(0.05):
            pids = [t.user_attrs["pid"] for t in study.trials if "pid" in t.user_attrs]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                return

    killer = threading.Thread(target=kill_victim, daemon=True)
    killer.start()
    try:
        study.optimize(objectives.victim, n_trials=4, n_jobs=2, backend="process")
    finally:
        stop.set()
        killer.join()
    # The retry is queued: the next trial asked for runs it, in this call or the next.
    study.optimize(objectives.victim, n_trials=1, n_jobs=2, backend="process")
    by_number = {t.number: t for t in study.trials}
    assert by_number[1].state == TrialState.FAIL
    assert (
        by_number[1].fail_reason == "the worker process running the trial died (killed by SIGKILL)"
    )
    (retry,) = [t for t in by_number.values() if t.system_attrs.get("retry_of") == 1]
    assert retry.state == TrialState.COMPLETE and retry.params == by_number[1].params
