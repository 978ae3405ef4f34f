"""Several processes opening and closing one SQLite study at once.

Opening a study used to read the database file's header through a file object of
its own. Closing that descriptor dropped the POSIX locks the process's SQLite
connections held on the file, so other processes reset the write-ahead log under
them: "disk I/O error" on most runs, and "database disk image is malformed" on some.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults._sqlite_reopen import N_OPENS, N_PROCESSES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_processes_reopening_one_sqlite_study_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    # Its own interpreter: the effect needs processes whose only SQLite user is tunelab.
    run = subprocess.run(
        [sys.executable, "-m", "tests.faults._sqlite_reopen", f"sqlite:///{path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
        check=True,
    )
    lines = run.stdout.splitlines()
    assert lines[:-1] == []  # no errors
    assert int(lines[-1]) == N_PROCESSES * N_OPENS
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
