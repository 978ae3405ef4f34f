"""A `tunelab worker` killed outright: its trial's lease lapses and another worker retries it."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import tunelab as tl
from tests.cli.test_worker import start_worker, wait_for
from tunelab.trial import TrialState


@pytest.mark.timeout(150)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkilled_worker_trial_is_failed_and_retried_by_another(
    kind: str, storage_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    url = storage_url_factory(kind)
    tl.create_study(
        study_name="s", storage=url, retry_failed=1, heartbeat_interval=0.2, grace_period=1.0
    )
    marker = tmp_path / "started"
    doomed = start_worker(url, "s", "hang_first", "--n-trials", "12", HANG_MARKER=str(marker))
    wait_for(marker, 30)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    # The survivor must not run trial 0's lengthy body again: only trial 0 hangs.
    survivor = start_worker(url, "s", "hang_first", "--n-trials", "12", HANG_MARKER=str(marker))
    out = survivor.communicate(timeout=120)[0]
    assert survivor.returncode == 0, out
    trials = tl.load_study(study_name="s", storage=url).get_trials()
    killed = trials[0]
    assert killed.state == TrialState.FAIL
    assert killed.fail_reason is not None and "no heartbeat" in killed.fail_reason
    retries = [t for t in trials if t.system_attrs.get("retry_of") == 0]
    assert [(t.state, t.params) for t in retries] == [(TrialState.COMPLETE, killed.params)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12
    assert not [t for t in trials if not t.state.is_finished()]
    # The configuration of the killed trial ran once more, as its retry, and no other twice.
    xs = [t.params["x"] for t in complete]
    assert len(set(xs)) == len(xs)


@pytest.mark.timeout(150)
def test_worker_waits_for_trials_of_a_killed_worker_before_exiting(
    storage_url_factory: Callable[[str], str], tmp_path: Path
) -> None:
    """The last trials may belong to a worker that dies: the others stay until they settle."""
    url = storage_url_factory("postgres")
    tl.create_study(
        study_name="s", storage=url, retry_failed=1, heartbeat_interval=0.2, grace_period=1.0
    )
    marker = tmp_path / "started"
    doomed = start_worker(url, "s", "hang_first", "--n-trials", "6", HANG_MARKER=str(marker))
    wait_for(marker, 30)
    survivor = start_worker(url, "s", "hang_first", "--n-trials", "6", HANG_MARKER=str(marker))
    # Let the survivor reach the target (5 of its own trials + the doomed one's) and wait.
    time.sleep(8)
    assert survivor.poll() is None, "the survivor left while a trial was still running"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    out = survivor.communicate(timeout=120)[0]
    assert survivor.returncode == 0, out
    study = tl.load_study(study_name="s", storage=url)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 6
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
