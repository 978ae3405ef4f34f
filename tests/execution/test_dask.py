"""DaskExecutor on a real LocalCluster: dead and frozen workers, SQL storages, set-up errors."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import tunelab as tl
from tests.execution import objectives
from tunelab.execution import DaskExecutor
from tunelab.trial import TrialState

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@contextmanager
def _on_victim(study: tl.Study, client: Any, act: Callable[[int], None]) -> Iterator[None]:
    """Once trial 1 announces its worker's pid (a Dask worker process), ``act`` on that pid."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for trial in study.get_trials(deepcopy=False):
                pid = trial.user_attrs.get("pid")
                if pid is not None:
                    assert pid in client.run(os.getpid).values()
                    act(pid)
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def test_a_killed_worker_fails_only_its_trial_and_the_study_goes_on(dask_client: Any) -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    with _on_victim(study, dask_client, lambda pid: os.kill(pid, signal.SIGKILL)):
        study.optimize(objectives.victim, n_trials=10, executor=DaskExecutor(dask_client))
    trials = study.trials
    assert len(trials) == 10
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [1]
    reason = failed[0].fail_reason or ""
    assert f"pid {failed[0].user_attrs['pid']}" in reason and "Dask worker tcp://" in reason
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 9


def test_a_killed_workers_trial_is_retried_when_the_study_says_so(dask_client: Any) -> None:
    study = tl.create_study(retry_failed=1)
    executor = DaskExecutor(dask_client)
    with _on_victim(study, dask_client, lambda pid: os.kill(pid, signal.SIGKILL)):
        study.optimize(objectives.victim, n_trials=5, executor=executor)
    # The retry is queued: the next trial asked for runs it, in this call or the next.
    study.optimize(objectives.victim, n_trials=1, executor=executor)
    by_number = {t.number: t for t in study.trials}
    assert by_number[1].state == TrialState.FAIL
    retries = [t for t in by_number.values() if t.system_attrs.get("retry_of") == 1]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].params == by_number[1].params


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP freezes a process on POSIX only")
def test_a_frozen_worker_loses_its_lease_and_its_trial_fails(dask_client: Any) -> None:
    # A stopped process keeps its connections open but answers nothing: like a
    # machine behind a network split.
    study = tl.create_study(heartbeat_interval=0.5, grace_period=2.0)
    frozen: list[int] = []

    def freeze(pid: int) -> None:
        frozen.append(pid)
        os.kill(pid, signal.SIGSTOP)
        # The split heals once the trial failed: the cluster gets its worker back.
        while study.trials[1].state == TrialState.RUNNING:
            time.sleep(0.1)
        os.kill(pid, signal.SIGCONT)

    started = time.monotonic()
    try:
        with _on_victim(study, dask_client, freeze):
            study.optimize(objectives.victim, n_trials=6, executor=DaskExecutor(dask_client))
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - started < 100  # trial 1 did not wait the two minutes
    by_number = {t.number: t for t in study.trials}
    assert len(by_number) == 6 and frozen
    assert by_number[1].state == TrialState.FAIL
    assert (by_number[1].fail_reason or "").startswith("no heartbeat for 2 s")
    assert not [t for t in by_number.values() if t.state == TrialState.RUNNING]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sql_storages(
    dask_client: Any, storage_url_factory: Callable[[str], str], kind: str
) -> None:
    url = storage_url_factory(kind)
    study = tl.create_study(
        storage=url, study_name="dask", pruner=tl.pruners.ThresholdPruner(upper=0.5)
    )
    study.optimize(objectives.stepwise, n_trials=12, executor=DaskExecutor(dask_client))
    trials = tl.load_study(study_name="dask", storage=url).trials
    assert len(trials) == 12
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all((t.state == TrialState.PRUNED) == (t.params["x"] > 0.5) for t in trials)


def test_resources_no_worker_has_are_a_clear_error(dask_client: Any) -> None:
    study = tl.create_study()
    with pytest.raises(ValueError, match=r"no worker with the resources \{'GPU': 1\}"):
        study.optimize(
            objectives.noop, n_trials=2, executor=DaskExecutor(dask_client, resources={"GPU": 1})
        )
    assert study.trials == []


@pytest.mark.parametrize("resources", [{"GPU": 0}, {"GPU": "one"}])
def test_bad_resources(dask_client: Any, resources: Any) -> None:
    with pytest.raises(ValueError, match="resources must map resource names to positive"):
        DaskExecutor(dask_client, resources=resources)


def test_client_must_be_a_dask_client() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        DaskExecutor("tcp://127.0.0.1:8786")


def test_without_distributed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'tunelab\[dask\]'"):
        DaskExecutor(object())
