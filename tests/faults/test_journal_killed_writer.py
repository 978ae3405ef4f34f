"""A journal writer killed with SIGKILL while it holds the lock, half-way through a record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tunelab.storage import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from tunelab.trial import StudyDirection, TrialState

# Takes the journal's lock, writes the first half of a record and waits to be killed.
_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from tunelab.storage import JournalFileBackend
    backend = JournalFileBackend(sys.argv[1])
    with backend.lock():
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        os.write(fd, b'{"op": "create_new_trial", "time": "2026-')
        print("holding", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.timeout(60)
def test_a_killed_writer_leaves_neither_its_lock_nor_its_torn_record_in_the_way(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(path))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    done = storage.create_new_trial(sid)
    storage.set_trial_state_values(done.trial_id, TrialState.COMPLETE, [1.0])

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "holding\n"
    finally:
        writer.kill()
        writer.wait()
    assert Path(f"{path}.lock").is_symlink()  # the dead writer's lock is still there

    # Reads go on while the lock is stale; the next write waits out the grace period.
    assert storage.get_all_trials(sid) == [storage.get_trial(done.trial_id)]
    other = JournalStorage(JournalFileBackend(path, JournalFileSymlinkLock(path, grace_period=1)))
    trial = other.create_new_trial(sid)
    assert trial.number == 1
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["op"] for r in records][-1] == "create_new_trial"
    assert [t.number for t in storage.get_all_trials(sid)] == [0, 1]
    assert not Path(f"{path}.lock").exists()
