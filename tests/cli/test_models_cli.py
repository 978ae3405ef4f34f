"""``tunelab register``, ``models``, ``predict`` and ``serve``: a model's round trip."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner, Result

import tunelab as tl
from tests.serve import cancer_data, fit_forest, save_forest
from tunelab.cli import app
from tunelab.deploy import Registry

ENTRY_POINT = Path(sys.executable).with_name("tunelab")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "TUNELAB_STORAGE": None, "TUNELAB_REGISTRY": None})


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    return fit_forest()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, forest: RandomForestClassifier) -> Path:
    return save_forest(tmp_path_factory.mktemp("cli-models") / "artifact", forest)


def _run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args))


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output + str(result.exception)
    return result.stdout


def _one_red_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_register_alias_history_show_and_predict_round_trip(
    runner: CliRunner, artifact: Path, forest: RandomForestClassifier, tmp_path: Path
) -> None:
    registry = str(tmp_path / "registry")
    out = _ok(_run(runner, "register", str(artifact), "--name", "cancer", "--registry", registry))
    assert "as cancer version 1" in out
    out = _ok(
        _run(
            runner,
            *("register", str(artifact), "--name", "cancer"),
            *("--alias", "production", "--registry", registry),
        )
    )
    assert "version 2" in out and "alias production -> 2" in out
    out = _ok(_run(runner, "models", "alias", "cancer", "production", "1", "--registry", registry))
    assert "cancer@production -> version 1 (was 2)" in out

    listing = _ok(_run(runner, "models", "list", "--registry", registry))
    row = next(line for line in listing.splitlines() if "cancer" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "cancer",
        "2",
        "2",
        "production -> 1",
    ]
    history = _ok(_run(runner, "models", "history", "cancer", "--registry", registry))
    moves = [line for line in history.splitlines() if "production" in line]
    assert [[c.strip() for c in m.split("│")[2:5]] for m in moves] == [
        ["production", "", "2"],
        ["production", "2", "1"],
    ]
    shown = _ok(_run(runner, "models", "show", "cancer@production", "--registry", registry))
    assert "cancer version 1 (production)" in shown
    assert "sklearn.ensemble._forest.RandomForestClassifier (classification)" in shown
    assert "mean radius: float64" in shown

    frame = cancer_data()[0].iloc[::-1].reset_index(drop=True)
    frame.insert(0, "customer", [f"id{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "in.csv", index=False)
    args = ["predict", "cancer@production", str(tmp_path / "in.csv")]
    args += ["-o", str(tmp_path / "out.parquet"), "--id-column", "customer"]
    out = _ok(_run(runner, *args, "--chunk-rows", "100", "--no-progress", "--registry", registry))
    assert f"Scored {len(frame)} rows" in out and "cancer version 1" in out
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert scored["customer"].tolist() == frame["customer"].tolist()
    expected = forest.predict(frame.drop(columns=["customer"]))
    assert scored["prediction"].tolist() == expected.tolist()


def test_predict_and_models_errors_are_one_red_line(
    runner: CliRunner, artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default registry, ./registry, is then empty
    registry = str(tmp_path / "models")
    _ok(_run(runner, "register", str(artifact), "--name", "cancer", "--registry", registry))
    cancer_data()[0].drop(columns=["mean area"]).to_csv(tmp_path / "in.csv", index=False)
    out = str(tmp_path / "out.parquet")
    result = _run(runner, "predict", "cancer", str(tmp_path / "in.csv"), "-o", out)
    _one_red_line(result, "no model named 'cancer'")
    result = _run(
        runner, "predict", "cancer", str(tmp_path / "in.csv"), "-o", out, "--registry", registry
    )
    _one_red_line(result, "missing column(s) ['mean area']")
    assert not Path(out).exists()
    missing = str(tmp_path / "nope.csv")
    result = _run(runner, "predict", "cancer", missing, "-o", out, "--registry", registry)
    _one_red_line(result, "nope.csv")
    _one_red_line(
        _run(runner, "models", "alias", "cancer", "production", "7", "--registry", registry),
        "has no version 7",
    )
    _one_red_line(
        _run(runner, "models", "show", "cancer@staging", "--registry", registry),
        "no alias 'staging'",
    )
    _one_red_line(
        _run(runner, "serve", "cancer", "cancer@x", "--registry", registry), "given twice"
    )


def test_predict_names_nul_bytes_not_a_missing_column(
    runner: CliRunner, artifact: Path, tmp_path: Path
) -> None:
    registry = str(tmp_path / "models")
    _ok(_run(runner, "register", str(artifact), "--name", "cancer", "--registry", registry))
    text = cancer_data()[0].to_csv(index=False)
    header, body = text.split("\n", 1)
    out = tmp_path / "out.csv"
    cases = {
        # A NUL inside a header name used to read as "missing column(s) ['mean area']".
        "header.csv": (text.replace("mean area", "mean\x00area").encode(), "byte 44 (line 1)"),
        "utf16.csv": (text.encode("utf-16"), "(line 1)"),
        # Far past the first block that is checked up front: found when parsing fails.
        "body.csv": (f"{header}\n{body}{body}{body}\x00{body}".encode(), "is not a text CSV"),
    }
    for name, (data, where) in cases.items():
        (tmp_path / name).write_bytes(data)
        args = ["predict", "cancer", str(tmp_path / name), "-o", str(out), "--no-progress"]
        result = _run(runner, *args, "--registry", registry)
        _one_red_line(result, f"{name} is not a text CSV file: it holds a NUL byte", where)
        assert not out.exists()


def _iris_study(url: str, *, with_attrs: bool = True) -> tl.Study:
    study = tl.create_study(study_name="iris-rf", storage=url, direction="maximize")
    if with_attrs:
        fixed = {"n_estimators": 5, "random_state": 0}
        spec = {"class": "sklearn.ensemble.RandomForestClassifier", "params": fixed}
        study.set_user_attr("model", spec)
        study.set_user_attr("data", "sklearn:iris")
        study.set_user_attr("metric", "accuracy")
    for depth, score in ((1, 0.7), (3, 0.95), (2, 0.9)):
        study.enqueue_trial({"max_depth": depth})
        trial = study.ask()
        trial.suggest_int("max_depth", 1, 5)
        study.tell(trial, score)
    return study


def test_register_a_study_refits_its_best_trial_on_the_full_data(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _iris_study(url)
    registry = str(tmp_path / "registry")
    args = ["register", "iris-rf", "--name", "iris", "--alias", "staging", "--no-onnx"]
    out = _ok(_run(runner, *args, "--storage", url, "--registry", registry))
    assert "the best trial of study 'iris-rf' as iris version 1" in out
    model = Registry(registry).load("iris@staging")
    card = model.card
    assert card.params == {"n_estimators": 5, "random_state": 0, "max_depth": 3}
    assert card.metrics == {"accuracy": {"value": 0.95}}
    assert (card.study, card.trial) == ("iris-rf", 1)
    assert card.data is not None and card.data["n_rows"] == 150
    X, y = load_iris(return_X_y=True, as_frame=True)
    reference = RandomForestClassifier(n_estimators=5, random_state=0, max_depth=3).fit(X, y)
    assert np.array_equal(model.predict(X), reference.predict(X))


def test_register_a_study_without_rebuild_instructions_is_one_red_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _iris_study(url, with_attrs=False)
    args = ["register", "iris-rf", "--name", "iris", "--storage", url]
    result = _run(runner, *args, "--registry", str(tmp_path / "registry"))
    _one_red_line(result, "no user attribute 'model'")
    result = _run(runner, "register", "no-such-study", "--name", "x", "--storage", url)
    _one_red_line(result, "no study named 'no-such-study'")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_pools_metrics(
    artifact: Path, forest: RandomForestClassifier, tmp_path: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    registry.set_alias("cancer", "production", registry.register("cancer", artifact))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNELAB_", "PROMETHEUS_"))}
    env["TUNELAB_API_KEY"] = "k3y"
    command = [str(ENTRY_POINT), "serve", "cancer@production", "--port", str(port)]
    command += ["--workers", "2", "--registry", registry.url, "--backend", "sklearn"]
    # Far below the 10 s default, so a silent client shows the flag reached the workers.
    command += ["--header-timeout", "0.5"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    X = cancer_data()[0].iloc[:4]
    body = {"records": X.to_dict("records")}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            _wait_until_ready(http, server)
            assert http.post("/predict", json=body).status_code == 401
            headers = {"X-API-Key": "k3y"}
            answers = [http.post("/predict", json=body, headers=headers) for _ in range(12)]
            metrics = http.get("/metrics", headers=headers).text
            # Each worker publishes its model-call times within a second.
            calls = _poll_inference_count(http, headers, 12)
            silent = _silent_client_answer(port)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert all(answer.status_code == 200 for answer in answers), output
    assert {tuple(a.json()["predictions"]) for a in answers} == {tuple(forest.predict(X))}
    rows = [line for line in metrics.splitlines() if line.startswith("tunelab_rows_scored_total")]
    assert len(rows) == 1 and float(rows[0].split()[-1]) == 12 * len(X), metrics
    assert "Started parent process" in output or "worker" in output.lower(), output
    assert silent.startswith(b"HTTP/1.1 408"), silent
    assert calls == 12, output


def _poll_inference_count(http: httpx.Client, headers: dict[str, str], wanted: int) -> float:
    """The pooled count of model calls, once it reaches ``wanted`` (or after 10 s)."""
    deadline = time.monotonic() + 10
    count = 0.0
    while time.monotonic() < deadline:
        for line in http.get("/metrics", headers=headers).text.splitlines():
            if line.startswith("tunelab_model_inference_seconds_count"):
                count = float(line.split()[-1])
        if count >= wanted:
            break
        time.sleep(0.2)
    return count


def _silent_client_answer(port: int) -> bytes:
    """What the server sends a client that connects and never sends a request."""
    with socket.create_connection(("127.0.0.1", port), timeout=8) as sock:
        return sock.recv(4096)


def _wait_until_ready(
    http: httpx.Client, server: subprocess.Popen[str], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[0]
        try:
            if http.get("/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")
