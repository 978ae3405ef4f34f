"""``tunelab dashboard``: a real process serving a storage, and its refusals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tunelab.cli._app import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

_SRC = str(Path(__file__).resolve().parents[2] / "src")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_serves_the_storage_read_only_unless_given_a_key(sqlite_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": _SRC, "TUNELAB_API_KEY": ""}
    env.pop("TUNELAB_API_KEY")
    command = [sys.executable, "-m", "tunelab.cli", "dashboard", sqlite_url, "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert "read-only" in server.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = httpx.get(f"{base}/api/studies", timeout=10).json()["studies"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        assert [s["name"] for s in studies] == ["demo", "pair"]
        page = httpx.get(f"{base}/studies/demo", timeout=10)
        assert page.status_code == 200 and "/static/dashboard.js" in page.text
        script = httpx.get(f"{base}/static/dashboard.js", timeout=10)
        assert script.headers["content-type"].startswith("text/javascript")
        refused = httpx.post(f"{base}/api/studies/demo/notes", json={"text": "x"}, timeout=10)
        assert refused.status_code == 403
    finally:
        server.terminate()
        server.wait(30)


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(app, ["dashboard", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert "nope.db" in result.output and not missing.exists()
