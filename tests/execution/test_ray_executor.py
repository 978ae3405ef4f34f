"""RayExecutor on a real local Ray cluster with several worker processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from tests.execution.contract import ExecutorContract  # noqa: E402
from tunelab import create_study  # noqa: E402
from tunelab.execution import Executor, RayExecutor  # noqa: E402
from tunelab.trial import BaseTrial, TrialState  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    # One GPU as Ray counts them (no device behind it): enough to schedule GPU fractions.
    ray.init(
        num_cpus=4,
        num_gpus=1,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    try:
        yield
    finally:
        ray.shutdown()


def _square(trial: BaseTrial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    trial.set_user_attr("pid", os.getpid())
    return x * x


def _kill_when_written(pid_file: Path) -> threading.Thread:
    """A started thread that SIGKILLs the process whose pid appears in ``pid_file``."""

    def kill() -> None:
        deadline = time.monotonic() + 120
        while not pid_file.exists() or not pid_file.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    return killer


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_trials_run_in_ray_worker_processes(
    ray_cluster: None, storage_url_factory: Callable[[str], str], kind: str, tmp_path: Path
) -> None:
    seen = tmp_path / "pids"
    seen.mkdir()

    def objective(trial: BaseTrial) -> float:
        # Each trial waits until two worker processes have run one: they run side by side.
        (seen / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(seen.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        return _square(trial)

    study = create_study(storage=storage_url_factory(kind))
    study.optimize(objective, n_trials=12, executor=RayExecutor({"num_cpus": 1}))

    trials = study.trials
    assert len(trials) == 12
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.value == t.params["x"] * t.params["x"] for t in trials)  # as _square computes
    pids = {t.user_attrs["pid"] for t in trials}
    assert os.getpid() not in pids and len(pids) > 1


class TestRayExecutor(ExecutorContract):
    """The contract every executor keeps: trials, pruning, errors, grids, reuse."""

    @pytest.fixture
    def executor(self, ray_cluster: None) -> Executor:
        return RayExecutor({"num_cpus": 1})


def test_a_killed_worker_fails_its_trial_and_the_retry_completes(
    ray_cluster: None, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"

    def objective(trial: BaseTrial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        if trial.number == 0:
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)  # killed long before this ends
        return x

    killer = _kill_when_written(pid_file)
    study = create_study(
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}", retry_failed=1, heartbeat_interval=1.0
    )
    # One trial at a time: the retry is queued before the budget of trials is spent.
    study.optimize(objective, n_trials=3, executor=RayExecutor(max_concurrent=1))
    killer.join(timeout=5)

    trials = study.trials
    killed = trials[0]
    pid = int(pid_file.read_text())
    assert killed.state == TrialState.FAIL
    assert f"Ray worker pid {pid}" in str(killed.fail_reason)
    retries = [t for t in trials if t.system_attrs.get("retry_of") == 0]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 2


def test_a_killed_slot_fails_only_its_trial_and_a_fresh_worker_takes_its_place(
    ray_cluster: None, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    later = tmp_path / "later"
    later.mkdir()

    def objective(trial: BaseTrial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        if trial.number == 2:
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)  # killed long before this ends
        if trial.number > 2:
            # Later trials wait until two processes run them: the other slot's and the
            # one started in place of the killed slot.
            (later / str(os.getpid())).touch()
            deadline = time.monotonic() + 60
            while len(list(later.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        return x

    killer = _kill_when_written(pid_file)
    study = create_study(retry_failed=1)
    study.optimize(objective, n_trials=10, executor=RayExecutor(max_concurrent=2))
    killer.join(timeout=5)

    pid = int(pid_file.read_text())
    trials = study.trials
    killed = trials[2]
    assert killed.state == TrialState.FAIL and f"Ray worker pid {pid}" in str(killed.fail_reason)
    others = [t for t in trials if t.number != 2]
    assert [t.state for t in others] == [TrialState.COMPLETE] * len(others)
    retries = [t for t in trials if t.system_attrs.get("retry_of") == 2]
    assert len(retries) == 1 and retries[0].params == killed.params
    # Each slot runs trial after trial in one worker process: two slots, then a third
    # process in place of the killed one, which no later trial ran on.
    assert len({t.user_attrs["pid"] for t in trials}) == 3
    assert len({t.user_attrs["pid"] for t in trials if t.number > 2} - {pid}) == 2
    # Every configuration ran once, but for the retry of the killed trial.
    assert len({t.params["x"] for t in trials}) == len(trials) - 1


def test_slots_give_their_resources_back_when_optimize_returns(ray_cluster: None) -> None:
    executor = RayExecutor({"num_cpus": 1})
    for _ in range(2):  # the second call gets the same slots' resources again
        study = create_study()
        study.optimize(_square, n_trials=8, executor=executor)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    # Free slots end their long-lived tasks; a bound on a hang, not a speed check.
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU") != ray.cluster_resources()["CPU"]:
        assert time.monotonic() < deadline, f"slots still hold CPUs: {ray.available_resources()}"
        time.sleep(0.1)


def test_a_frozen_worker_loses_its_lease_and_the_retry_completes(
    ray_cluster: None, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"

    def objective(trial: BaseTrial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        if trial.number == 0:
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)  # frozen, then killed, long before this ends
        return x

    def freeze_when_running() -> None:
        deadline = time.monotonic() + 120
        while not pid_file.exists() or not pid_file.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        # Stopped, not dead: its connection stays open but its pings stop.
        os.kill(int(pid_file.read_text()), signal.SIGSTOP)

    freezer = threading.Thread(target=freeze_when_running, daemon=True)
    freezer.start()
    study = create_study(retry_failed=1, heartbeat_interval=0.5)
    try:
        study.optimize(objective, n_trials=3, executor=RayExecutor(max_concurrent=1))
    finally:
        freezer.join(timeout=5)
        if pid_file.exists() and _running(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)

    frozen, *rest = study.trials
    assert frozen.state == TrialState.FAIL
    assert [(t.state, t.system_attrs.get("retry_of")) for t in rest] == [
        (TrialState.COMPLETE, 0),
        (TrialState.COMPLETE, None),
    ]
    assert rest[0].params == frozen.params
    # The coordinator gave the trial up and had Ray end its worker.
    deadline = time.monotonic() + 30
    while _running(int(pid_file.read_text())):
        assert time.monotonic() < deadline, "the frozen worker was not ended"
        time.sleep(0.1)


def test_an_overdue_trial_is_ended_after_the_timeout(ray_cluster: None) -> None:
    def objective(trial: BaseTrial) -> float:
        time.sleep(120 if trial.number == 0 else 0)
        return 0.0

    executor = RayExecutor(max_concurrent=2)
    study = create_study()
    started = time.monotonic()
    study.optimize(objective, timeout=1.0, executor=executor)
    assert time.monotonic() - started < 60  # bounds a hang, not a speed check
    overdue = study.trials[0]
    assert overdue.state == TrialState.FAIL and str(overdue.fail_reason).startswith("timeout")
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]

    # The killed task's end reaches this process later: it must not touch the next
    # optimize call's trial of the same id (a new in-memory study numbers from 0 again).
    def slow(trial: BaseTrial) -> float:
        time.sleep(2)
        return 1.0

    after = create_study()
    after.optimize(slow, n_trials=1, executor=executor)
    assert overdue.trial_id == after.trials[0].trial_id
    assert after.trials[0].state == TrialState.COMPLETE


def test_trials_hold_their_share_of_a_gpu(ray_cluster: None) -> None:
    def objective(trial: BaseTrial) -> float:
        trial.set_user_attr("gpus", [str(g) for g in ray.get_gpu_ids()])
        trial.set_user_attr("visible", os.environ.get("CUDA_VISIBLE_DEVICES"))
        return trial.suggest_float("x", 0.0, 1.0)

    executor = RayExecutor({"num_cpus": 1, "num_gpus": 0.5})
    assert executor.capacity() == 2  # two halves of the one GPU
    study = create_study()
    study.optimize(objective, n_trials=4, executor=executor)
    assert [(t.user_attrs["gpus"], t.user_attrs["visible"]) for t in study.trials] == [
        (["0"], "0")
    ] * 4


def test_a_cluster_without_the_resources_is_refused(ray_cluster: None) -> None:
    study = create_study()
    wanted = r"no node with the resources \{'num_cpus': 1, 'num_gpus': 2\}"
    with pytest.raises(ValueError, match=wanted):
        study.optimize(_square, n_trials=2, executor=RayExecutor({"num_gpus": 2}))
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resources_per_trial": {"num_cpus": -1}}, "resources_per_trial must map"),
        ({"resources_per_trial": {"num_cpus": "1"}}, "resources_per_trial must map"),
        ({"resources_per_trial": {"num_cpus": 0}}, "asks for nothing"),
        ({"max_concurrent": 0}, "max_concurrent must be a positive integer"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RayExecutor(**kwargs)  # type: ignore[arg-type]


_COORDINATOR = """
import os, sys, time, ray, tunelab
from tunelab.execution import RayExecutor

PID_FILE = sys.argv[2]  # shipped with the objective: a worker's own argv differs

def objective(trial):
    with open(PID_FILE, "w") as file:
        file.write(str(os.getpid()))
    time.sleep(120)
    return 0.0

ray.init(address=sys.argv[1], log_to_driver=False)
tunelab.create_study().optimize(objective, n_trials=1, executor=RayExecutor())
"""


def test_workers_die_with_their_coordinator(ray_cluster: None, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "coordinator.py"
    script.write_text(_COORDINATOR)
    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    coordinator = subprocess.Popen([sys.executable, str(script), address, str(pid_file)], env=env)
    try:
        deadline = time.monotonic() + 90
        while not (pid_file.exists() and pid_file.read_text()):
            assert coordinator.poll() is None, "the coordinator ended before its trial started"
            assert time.monotonic() < deadline, "the trial never started"
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        os.kill(coordinator.pid, signal.SIGKILL)
        coordinator.wait(timeout=10)
        deadline = time.monotonic() + 60
        while _running(worker):
            assert time.monotonic() < deadline, f"worker {worker} outlived its coordinator"
            time.sleep(0.2)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"RayExecutor: ray is not installed; .*tunelab\[ray\]"):
        RayExecutor()
