"""Requests per second and latency of one model served over HTTP, one row per request.

The model is the demo's kind: a random forest (100 trees) on scikit-learn's breast-cancer
data, with named float columns. Each server runs in its own process; the load comes
from this script, an asyncio loop of httpx clients sending a fixed number of requests
(``--requests``, 2,000 by default) at concurrency 1 and 8, after a warm-up. The
configurations take turns in blocks of a quarter of the requests, so that the load of
other programs on a shared machine falls on all of them alike.

Servers compared:

* tunelab, scikit-learn backend and ONNX Runtime backend, each through the Open
  Inference Protocol (one 1x30 FP64 tensor) and through ``/predict`` (one record);
* a plain FastAPI endpoint that builds a DataFrame and calls scikit-learn directly;
* ``mlflow models serve`` and BentoML, when a throwaway virtualenv holding them is
  given (``--mlflow-venv``, ``--bentoml-venv``); they are never project dependencies.

Usage::

    python benchmarks/serving.py                       # 2,000 requests per configuration
    python benchmarks/serving.py --requests 500 --markdown
    python benchmarks/serving.py --mlflow-venv /tmp/venv-mlflow --bentoml-venv /tmp/venv-bento
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import machine_info, print_table, ratio, write_json

N_TREES = 100
N_PAYLOADS = 50
WARMUP = 100
BLOCKS = 4
CONCURRENCY = (1, 8)
STARTUP_SECONDS = 180.0


@dataclass(frozen=True)
class Target:
    """One server and one way of asking it for one row."""

    key: str
    label: str
    server: str  # key of the server process
    path: str
    body: Callable[[dict[str, float]], Any]
    answer: Callable[[Any], Any]  # response JSON -> the predicted label


def _oip_body(row: dict[str, float]) -> Any:
    data = list(row.values())
    return {"inputs": [{"name": "row", "shape": [1, len(data)], "datatype": "FP64", "data": data}]}


def _oip_labels_body(row: dict[str, float]) -> Any:
    return {**_oip_body(row), "outputs": [{"name": "predict"}]}


def _records_body(row: dict[str, float]) -> Any:
    return {"records": [row]}


def _mlflow_body(row: dict[str, float]) -> Any:
    return {"dataframe_records": [row]}


TARGETS = [
    Target(
        "tunelab-sklearn-oip",
        "tunelab, scikit-learn, OIP infer",
        "tunelab-sklearn",
        "/v2/models/cancer/infer",
        _oip_body,
        lambda body: body["outputs"][0]["data"][0],
    ),
    Target(
        "tunelab-sklearn-oip-labels",
        "tunelab, scikit-learn, OIP infer, labels only",
        "tunelab-sklearn",
        "/v2/models/cancer/infer",
        _oip_labels_body,
        lambda body: body["outputs"][0]["data"][0],
    ),
    Target(
        "tunelab-sklearn-predict",
        "tunelab, scikit-learn, /predict",
        "tunelab-sklearn",
        "/predict",
        _records_body,
        lambda body: body["predictions"][0],
    ),
    Target(
        "tunelab-onnx-oip",
        "tunelab, ONNX Runtime, OIP infer",
        "tunelab-onnx",
        "/v2/models/cancer/infer",
        _oip_body,
        lambda body: body["outputs"][0]["data"][0],
    ),
    Target(
        "tunelab-onnx-predict",
        "tunelab, ONNX Runtime, /predict",
        "tunelab-onnx",
        "/predict",
        _records_body,
        lambda body: body["predictions"][0],
    ),
    Target(
        "plain-fastapi",
        "plain FastAPI + scikit-learn",
        "plain",
        "/predict",
        _records_body,
        lambda body: body["predictions"][0],
    ),
    Target(
        "mlflow",
        "mlflow models serve",
        "mlflow",
        "/invocations",
        _mlflow_body,
        lambda body: body["predictions"][0],
    ),
    Target(
        "bentoml",
        "BentoML",
        "bentoml",
        "/predict",
        _records_body,
        lambda body: body["predictions"][0],
    ),
]
BASELINE = "plain-fastapi"


# -- the servers, each run by this script in a child process -----------------------------------


def _fit_and_save(folder: Path) -> dict[str, Path]:
    """The forest as a tunelab artifact (with ONNX) and as a plain pickle for the peers."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from tunelab.deploy import save_model

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=N_TREES, n_jobs=1, random_state=0).fit(X, y)
    artifact = save_model(model, folder / "artifact", data=(X, y), onnx=True)
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    return {"artifact": artifact, "pickle": pickled}


def serve_tunelab(artifact: str, backend: str, port: int) -> None:
    """Run tunelab's server for one model with the given backend (child process)."""
    import uvicorn

    from tunelab.deploy import load_model
    from tunelab.deploy.serve import create_app

    model = load_model(artifact, backend=backend)  # type: ignore[arg-type]
    assert model.backend == backend, model.backend
    app = create_app({"cancer": model})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_plain(artifact: str, port: int) -> None:
    """Run a hand-written FastAPI endpoint calling scikit-learn directly (child process)."""
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI

    from tunelab.deploy import load_model

    loaded = load_model(artifact, backend="sklearn")
    model = loaded.model
    assert loaded.signature is not None
    columns = loaded.signature.column_names
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        X = pd.DataFrame(body["records"], columns=columns)
        return {
            "predictions": model.predict(X).tolist(),
            "probabilities": model.predict_proba(X).tolist(),
        }

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


_BENTO_SERVICE = """
import pickle

import bentoml
import pandas as pd


@bentoml.service(workers=1)
class Cancer:
    def __init__(self) -> None:
        with open({pickle_path!r}, "rb") as handle:
            self.model = pickle.load(handle)

    @bentoml.api
    def predict(self, records: list[dict]) -> dict:
        X = pd.DataFrame(records)
        return {{
            "predictions": self.model.predict(X).tolist(),
            "probabilities": self.model.predict_proba(X).tolist(),
        }}
"""

_MLFLOW_SAVE = """
import pickle, sys
import mlflow.sklearn
with open(sys.argv[1], "rb") as handle:
    model = pickle.load(handle)
mlflow.sklearn.save_model(model, sys.argv[2], skops_trusted_types=["sklearn.tree._tree.Tree"])
"""


def _server_command(
    key: str, files: dict[str, Path], port: int, folder: Path, venvs: dict[str, Path]
) -> tuple[list[str], str]:
    """The command that starts a server and the path that answers 200 once it is up."""
    me = [sys.executable, str(Path(__file__).resolve())]
    if key.startswith("tunelab-"):
        backend = key.removeprefix("tunelab-")
        args = ["--serve", "tunelab", "--backend", backend]
        return [*me, *args, "--artifact", str(files["artifact"]), "--port", str(port)], (
            "/v2/health/ready"
        )
    if key == "plain":
        args = ["--serve", "plain", "--artifact", str(files["artifact"]), "--port", str(port)]
        return [*me, *args], "/health"
    if key == "mlflow":
        python = venvs["mlflow"] / "bin" / "python"
        model_dir = folder / "mlflow-model"
        subprocess.run(
            [str(python), "-c", _MLFLOW_SAVE, str(files["pickle"]), str(model_dir)], check=True
        )
        mlflow = venvs["mlflow"] / "bin" / "mlflow"
        command = [str(mlflow), "models", "serve", "-m", str(model_dir), "-p", str(port)]
        return [*command, "-h", "127.0.0.1", "--env-manager", "local", "-w", "1"], "/health"
    service = folder / "bento_service.py"
    service.write_text(textwrap.dedent(_BENTO_SERVICE.format(pickle_path=str(files["pickle"]))))
    bentoml = venvs["bentoml"] / "bin" / "bentoml"
    command = [str(bentoml), "serve", "bento_service:Cancer", "--port", str(port)]
    return [*command, "--host", "127.0.0.1", "--working-dir", str(folder)], "/readyz"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A server child process, started and stopped by the benchmark."""

    def __init__(
        self, key: str, command: list[str], ready_path: str, port: int, log_path: Path
    ) -> None:
        self.key = key
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        # Peers started from their own virtualenv find its other scripts (uvicorn...).
        bin_dir = str(Path(command[0]).parent)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        with log_path.open("wb") as log:
            # A session of its own, so stopping it also stops the workers it spawns.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.ready_path = ready_path

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.key} exited: {self.output()}")
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
        raise RuntimeError(f"{self.key} did not start in {STARTUP_SECONDS:.0f} s: {self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


# -- the load generator ------------------------------------------------------------------------


async def _load(
    url: str, payloads: Sequence[bytes], n_requests: int, concurrency: int
) -> tuple[list[float], float, int]:
    """Send ``n_requests`` POSTs from ``concurrency`` clients; latencies, wall time, errors."""
    latencies: list[float] = []
    errors = 0
    numbers = iter(range(n_requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def client_loop() -> None:
            nonlocal errors
            for number in numbers:
                body = payloads[number % len(payloads)]
                start = time.perf_counter()
                answer = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                errors += answer.status_code != 200

        begin = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        wall = time.perf_counter() - begin
    return latencies, wall, errors


def _check_answers(
    target: Target, url: str, rows: list[dict[str, float]], labels: list[int]
) -> None:
    with httpx.Client(timeout=30) as client:
        for row, label in list(zip(rows, labels, strict=True))[:5]:
            answer = client.post(url, json=target.body(row))
            answer.raise_for_status()
            got = target.answer(answer.json())
            if int(got) != int(label):
                raise RuntimeError(f"{target.key} predicted {got} for a row labelled {label}")


def run(n_requests: int, venvs: dict[str, Path], folder: Path) -> dict[str, Any]:
    """Start every server, check its answers, then measure every target at each concurrency."""
    from sklearn.datasets import load_breast_cancer

    files = _fit_and_save(folder)
    X = load_breast_cancer(as_frame=True).data
    rows = X.iloc[:N_PAYLOADS].to_dict("records")
    with open(files["pickle"], "rb") as handle:
        labels = pickle.load(handle).predict(X.iloc[:N_PAYLOADS]).tolist()
    wanted = [t for t in TARGETS if t.server not in ("mlflow", "bentoml") or t.server in venvs]
    servers: dict[str, Server] = {}
    skipped: dict[str, str] = {}
    try:
        for key in dict.fromkeys(t.server for t in wanted):
            port = _free_port()
            try:
                command, ready = _server_command(key, files, port, folder, venvs)
            except subprocess.CalledProcessError as exc:
                skipped[key] = f"could not prepare the model: {exc}"
                continue
            servers[key] = Server(key, command, ready, port, folder / f"{key}.log")
        for key, server in list(servers.items()):
            try:
                server.wait_ready()
            except RuntimeError as exc:
                skipped[key] = str(exc)
                server.stop()
                del servers[key]
        targets = [t for t in wanted if t.server in servers]
        for target in targets:
            _check_answers(target, servers[target.server].url + target.path, rows, labels)
        results = {t.key: {"label": t.label, "by_concurrency": {}} for t in targets}
        for concurrency in CONCURRENCY:
            _measure(targets, servers, rows, n_requests, concurrency, results)
    finally:
        for server in servers.values():
            server.stop()
    return {"targets": results, "skipped": skipped}


def _measure(
    targets: list[Target],
    servers: dict[str, Server],
    rows: list[dict[str, float]],
    n_requests: int,
    concurrency: int,
    results: dict[str, Any],
) -> None:
    samples: dict[str, list[float]] = {t.key: [] for t in targets}
    walls = dict.fromkeys(samples, 0.0)
    errors = dict.fromkeys(samples, 0)
    payloads = {t.key: [json.dumps(t.body(row)).encode() for row in rows] for t in targets}
    for target in targets:
        url = servers[target.server].url + target.path
        asyncio.run(_load(url, payloads[target.key], WARMUP, concurrency))
    block = n_requests // BLOCKS
    for _ in range(BLOCKS):
        for target in targets:
            url = servers[target.server].url + target.path
            latencies, wall, failed = asyncio.run(
                _load(url, payloads[target.key], block, concurrency)
            )
            samples[target.key] += latencies
            walls[target.key] += wall
            errors[target.key] += failed
    for target in targets:
        latencies = sorted(samples[target.key])
        results[target.key]["by_concurrency"][str(concurrency)] = {
            "requests": len(latencies),
            "errors": errors[target.key],
            "requests_per_s": len(latencies) / walls[target.key],
            "p50_ms": statistics.median(latencies) * 1e3,
            "p99_ms": float(np.quantile(latencies, 0.99)) * 1e3,
        }
        cell = results[target.key]["by_concurrency"][str(concurrency)]
        print(
            f"  c={concurrency} {target.label}: {cell['requests_per_s']:.1f} req/s, "
            f"p50 {cell['p50_ms']:.2f} ms, p99 {cell['p99_ms']:.2f} ms, {cell['errors']} errors"
        )


def report(payload: dict[str, Any], *, markdown: bool) -> None:
    """Print the table: requests/s and latency per target, and the ratio to plain FastAPI."""
    results = payload["targets"]
    base = results.get(BASELINE, {}).get("by_concurrency", {})
    rows = []
    for entry in results.values():
        row: list[Any] = [entry["label"]]
        for concurrency in map(str, CONCURRENCY):
            cell = entry["by_concurrency"][concurrency]
            reference = base.get(concurrency, {}).get("requests_per_s")
            row += [
                cell["requests_per_s"],
                ratio(cell["requests_per_s"], reference),
                cell["p50_ms"],
                cell["p99_ms"],
            ]
        rows.append(row)
    columns = ["server"]
    for concurrency in CONCURRENCY:
        columns += [f"req/s c={concurrency}", "x plain", f"p50 ms c={concurrency}", "p99 ms"]
    print_table("One-row requests to a 100-tree random forest", columns, rows, markdown=markdown)
    for key, reason in payload["skipped"].items():
        print(f"skipped {key}: {reason[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2_000, help="requests per configuration")
    parser.add_argument("--mlflow-venv", type=Path, help="virtualenv with mlflow installed")
    parser.add_argument("--bentoml-venv", type=Path, help="virtualenv with BentoML installed")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--serve", choices=["tunelab", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="sklearn", help=argparse.SUPPRESS)
    parser.add_argument("--artifact", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "tunelab":
        serve_tunelab(args.artifact, args.backend, args.port)
        return
    if args.serve == "plain":
        serve_plain(args.artifact, args.port)
        return
    venvs = {}
    for name, venv in (("mlflow", args.mlflow_venv), ("bentoml", args.bentoml_venv)):
        if venv is not None:
            venvs[name] = venv
    with tempfile.TemporaryDirectory(prefix="tunelab-serving-bench-") as tmp:
        payload = run(args.requests, venvs, Path(tmp))
    payload["machine"] = machine_info(
        ["tunelab", "scikit-learn", "onnxruntime", "fastapi", "uvicorn", "httpx"]
    )
    payload["settings"] = {
        "requests_per_configuration": args.requests,
        "warmup": WARMUP,
        "blocks": BLOCKS,
        "trees": N_TREES,
        "peers": {name: str(path) for name, path in venvs.items()},
    }
    path = write_json("serving.json", payload)
    report(payload, markdown=args.markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
