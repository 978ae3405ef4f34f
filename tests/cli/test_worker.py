"""``tunelab worker``: independent worker processes sharing one study through its database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import tunelab as tl
from tunelab.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVES = Path(__file__).with_name("_worker_objectives.py")


def start_worker(
    url: str, study: str, objective: str, *args: str, **env: str
) -> subprocess.Popen[str]:
    """`python -m tunelab.cli worker` as its own process, with this checkout's code."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", **env}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tunelab.cli",
            "worker",
            study,
            "--storage",
            url,
            "--objective",
            f"{OBJECTIVES}:{objective}",
            *args,
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_workers_reach_n_trials_exactly(
    kind: str, storage_url_factory: Callable[[str], str]
) -> None:
    url = storage_url_factory(kind)
    tl.create_study(study_name="shared", storage=url)
    # The default sampler: model-based proposals of workers asking at the same moment
    # are told apart by the configuration each trial claims (issue #12).
    workers = [start_worker(url, "shared", "quick", "--n-trials", "30") for _ in range(2)]
    outputs = [w.communicate(timeout=100)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = tl.load_study(study_name="shared", storage=url).get_trials()
    assert len(trials) == 30  # not one more: the storage refuses trials past the target
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.params["x"] for t in trials}) == 30
    # Both took part: each worker reports its own share.
    shares = [int(out.split(" done: ")[1].split(" complete")[0]) for out in outputs]
    assert sum(shares) == 30 and min(shares) > 0, outputs


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_n_workers_starts_that_many_processes(storage_url_factory: Callable[[str], str]) -> None:
    url = storage_url_factory("sqlite")
    proc = start_worker(url, "many", "quick", "--n-trials", "24", "--n-workers", "3")
    out = proc.communicate(timeout=100)[0]
    assert proc.returncode == 0, out
    assert out.count(" done: ") == 3
    study = tl.load_study(study_name="many", storage=url)
    assert study.direction == tl.StudyDirection.MINIMIZE
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 24
    assert len(study.get_trials()) == 24


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("grace", "finished_as"), [("0.2", TrialState.FAIL), ("30", TrialState.COMPLETE)]
)
def test_sigterm_stops_asking_and_exits_zero(
    grace: str, finished_as: TrialState, storage_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    url = storage_url_factory("sqlite")
    tl.create_study(study_name="s", storage=url, retry_failed=1)
    marker = tmp_path / "started"
    proc = start_worker(
        url,
        "s",
        "hang_first",
        "--n-trials",
        "5",
        "--grace",
        grace,
        HANG_MARKER=str(marker),
        HANG_SECONDS="3",
    )
    wait_for(marker, 30)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert "stopped by SIGTERM" in out
    trials = tl.load_study(study_name="s", storage=url).get_trials()
    first = trials[0]
    assert first.state == finished_as
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    if finished_as == TrialState.FAIL:
        assert first.fail_reason == "worker stopped (SIGTERM) before the trial finished"
        # retry_failed=1: the same configuration waits for the next worker.
        assert [(t.state, t.params) for t in trials[1:]] == [(TrialState.WAITING, {})]
        assert trials[1].system_attrs["fixed_params"] == first.params
    else:
        assert len(trials) == 1  # no new trial was started after the signal


def test_objective_and_config_are_exclusive(storage_url_factory: Callable[[str], str]) -> None:
    url = storage_url_factory("sqlite")
    proc = subprocess.run(
        [sys.executable, "-m", "tunelab.cli", "worker", "s", "--storage", url],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "exactly one of --config and --objective" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_config_workers_run_the_configs_objective_for_its_budget(
    storage_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    config = tmp_path / "iris.yaml"
    config.write_text(
        "data: sklearn:iris\n"
        "model: sklearn.tree.DecisionTreeClassifier\n"
        "space: {max_depth: {int: [1, 8]}, ccp_alpha: {float: [0.0, 0.01]}}\n"
        "cv: 3\nmetric: accuracy\nsampler: random\nn_trials: 8\nseed: 0\n"
    )
    url = storage_url_factory("sqlite")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunelab.cli",
            "worker",
            "iris",
            "--storage",
            url,
            "--config",
            str(config),
            "--n-workers",
            "2",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" done: ") == 2
    study = tl.load_study(study_name="iris", storage=url)
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state == TrialState.COMPLETE for t in trials)
    # The config's objective: cross-validated accuracy, and the study remembers its config.
    assert all(0.3 < t.value <= 1.0 for t in trials)
    assert study.user_attrs["metric"] == "accuracy"
    # Seeded alike, the workers were reseeded apart: no configuration ran twice.
    configs = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(configs)) == len(configs)
