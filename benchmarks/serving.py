"""Requests per second and latency of one model served over HTTP, one row per request.

The model is the demo's kind: a random forest (100 trees) on scikit-learn's breast-cancer
data, with named float columns. Each server runs in its own process with one worker. The
load comes from ``wrk`` (a C load generator, one thread, keep-alive connections) at
concurrency 1 and 8, cycling through 50 request bodies: it spends a few percent of a core
where a Python client would take most of one and cap every server. Answers are checked
against scikit-learn before timing. After a one-second warm-up, the configurations take
turns in four blocks, so that the load of other programs on a shared machine falls on all
of them alike. Besides requests/s and wrk's p50/p99 latency, the CPU time every server's
processes spent per request is read from ``/proc``: it barely moves with the machine's load.

Servers compared:

* tunelab (:func:`tunelab.deploy.serve.serve`), scikit-learn backend and ONNX Runtime
  backend, each through the Open Inference Protocol (one 1x30 FP64 tensor) and through
  ``/predict`` (one record);
* a plain FastAPI endpoint that builds a DataFrame and calls scikit-learn directly;
* ``mlflow models serve`` and BentoML, when a throwaway virtualenv holding them is
  given (``--mlflow-venv``, ``--bentoml-venv``); they are never project dependencies.

The issue's bar: tunelab's ONNX backend answers at least 5x BentoML's and 20x MLflow's
requests/s.

Usage::

    scripts/install-loadgen.sh                         # wrk, once
    python benchmarks/serving.py                       # 20 s per configuration and concurrency
    python benchmarks/serving.py --seconds 8 --markdown
    python benchmarks/serving.py --mlflow-venv /tmp/venv-mlflow --bentoml-venv /tmp/venv-bento
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import machine_info, print_table, ratio, write_json

N_TREES = 100
N_PAYLOADS = 50
WARMUP_SECONDS = 1
BLOCKS = 4
CONCURRENCY = (1, 8)
STARTUP_SECONDS = 180.0
# The bar: the ONNX backend's requests/s over each peer's, at every concurrency.
BAR = {"mlflow": 20.0, "bentoml": 5.0}
BAR_TARGETS = ("tunelab-onnx-oip", "tunelab-onnx-predict")


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
PEERS = ("mlflow", "bentoml")
BASELINE = "baseline-"


def _baseline_targets() -> list[Target]:
    """The tunelab targets again, answered by another checkout's code (``--baseline-src``)."""
    return [
        Target(
            BASELINE + t.key,
            t.label.replace("tunelab", "tunelab baseline", 1),
            BASELINE + t.server,
            t.path,
            t.body,
            t.answer,
        )
        for t in TARGETS
        if t.server.startswith("tunelab-")
    ]


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
    from tunelab.deploy import load_model
    from tunelab.deploy.serve import serve

    model = load_model(artifact, backend=backend)  # type: ignore[arg-type]
    assert model.backend == backend, model.backend
    serve({"cancer": model}, host="127.0.0.1", port=port, log_level="warning")


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
    if key.startswith(("tunelab-", BASELINE)):
        backend = key.removeprefix(BASELINE).removeprefix("tunelab-")
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
        self,
        key: str,
        command: list[str],
        ready_path: str,
        port: int,
        log_path: Path,
        python_path: Path | None = None,
    ) -> None:
        self.key = key
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        # Peers started from their own virtualenv find its other scripts (uvicorn...).
        bin_dir = str(Path(command[0]).parent)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        if python_path is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(python_path), env.get("PYTHONPATH", "")])
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

    def cpu_seconds(self) -> float | None:
        """CPU seconds (user + system) the server's processes have used so far (Linux only)."""
        return _tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


# -- the load generator ------------------------------------------------------------------------

# One wrk thread cycles through the bodies (one per line, the file given after "--") and,
# when done, prints its counts and latency histogram (µs -> count) as one line of JSON.
# wrk adds samples to that histogram to correct for coordinated omission, as in its own
# percentiles.
_WRK_SCRIPT = """
local bodies = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end

function request()
  index = index % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "errors": %d, "latency_us": [',
    "WRK-JSON ", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("%s[%d, %d]", i > 1 and ", " or "", value, count))
  end
  io.write("]}\\n")
end
"""
_WRK_MARK = "WRK-JSON "


@dataclass
class Tally:
    """What the blocks of one target at one concurrency add up to."""

    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    latency_us: Counter[int] = field(default_factory=Counter)
    server_cpu: float | None = 0.0
    loadgen_cpu: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = max(self.requests, 1)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": self.requests / self.seconds,
            "p50_ms": _percentile(self.latency_us, 50) / 1e3,
            "p99_ms": _percentile(self.latency_us, 99) / 1e3,
            "server_cpu_us_per_request": (
                None if self.server_cpu is None else self.server_cpu / n * 1e6
            ),
            "loadgen_cpu_us_per_request": self.loadgen_cpu / n * 1e6,
        }


def _wrk(url: str, script: Path, bodies: Path, seconds: int, concurrency: int) -> dict[str, Any]:
    """One wrk run: its JSON summary, plus the CPU seconds wrk itself used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s"]
    done = subprocess.run(
        [*command, "-s", str(script), url, "--", str(bodies)],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith(_WRK_MARK)]
    if not lines:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    run = json.loads(lines[0].removeprefix(_WRK_MARK))
    run["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return run


def _percentile(histogram: Counter[int], q: float) -> float:
    """The smallest value with at least ``q`` percent of the samples at or below it."""
    total = sum(histogram.values())
    rank = q / 100 * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float("nan")


def _tree_cpu_seconds(root: int) -> float | None:
    """User + system CPU seconds of a live process and its descendants, from /proc.

    Descendants, not the session: BentoML's supervisor starts its workers in sessions
    of their own.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # The fields after the command name, which may hold spaces: state is 0.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    tree = {root}
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


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


def run(
    seconds: int, venvs: dict[str, Path], folder: Path, baseline: Path | None = None
) -> dict[str, Any]:
    """Start every server, check its answers, then measure every target at each concurrency."""
    from sklearn.datasets import load_breast_cancer

    files = _fit_and_save(folder)
    X = load_breast_cancer(as_frame=True).data
    rows = X.iloc[:N_PAYLOADS].to_dict("records")
    with open(files["pickle"], "rb") as handle:
        labels = pickle.load(handle).predict(X.iloc[:N_PAYLOADS]).tolist()
    wanted = [t for t in TARGETS if t.server not in PEERS or t.server in venvs]
    if baseline is not None:
        wanted += _baseline_targets()
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
            source = baseline if key.startswith(BASELINE) else None
            servers[key] = Server(key, command, ready, port, folder / f"{key}.log", source)
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
        script = folder / "bodies.lua"
        script.write_text(_WRK_SCRIPT)
        bodies = {}
        for target in targets:
            bodies[target.key] = folder / f"bodies-{target.key}.txt"
            bodies[target.key].write_text("".join(json.dumps(target.body(r)) + "\n" for r in rows))
        results: dict[str, dict[str, Any]] = {
            t.key: {"label": t.label, "by_concurrency": {}} for t in targets
        }
        block = max(1, seconds // BLOCKS)
        for concurrency in CONCURRENCY:
            for target in targets:
                url = servers[target.server].url + target.path
                _wrk(url, script, bodies[target.key], WARMUP_SECONDS, concurrency)
            tallies = {t.key: Tally() for t in targets}
            for _ in range(BLOCKS):
                for target in targets:
                    server = servers[target.server]
                    _block(tallies[target.key], server, target, script, bodies, block, concurrency)
            for target in targets:
                cell = tallies[target.key].summary()
                results[target.key]["by_concurrency"][str(concurrency)] = cell
                print(
                    f"  c={concurrency} {target.label}: {cell['requests_per_s']:.1f} req/s, "
                    f"p50 {cell['p50_ms']:.2f} ms, p99 {cell['p99_ms']:.2f} ms, "
                    f"{cell['errors']} errors"
                )
    finally:
        for server in servers.values():
            server.stop()
    return {"targets": results, "skipped": skipped}


def _block(
    tally: Tally,
    server: Server,
    target: Target,
    script: Path,
    bodies: dict[str, Path],
    seconds: int,
    concurrency: int,
) -> None:
    cpu_before = server.cpu_seconds()
    outcome = _wrk(server.url + target.path, script, bodies[target.key], seconds, concurrency)
    cpu_after = server.cpu_seconds()
    tally.requests += outcome["requests"]
    tally.seconds += outcome["duration_us"] / 1e6
    tally.errors += outcome["errors"]
    tally.latency_us.update({value: count for value, count in outcome["latency_us"]})
    tally.loadgen_cpu += outcome["cpu_seconds"]
    if tally.server_cpu is None or cpu_before is None or cpu_after is None:
        tally.server_cpu = None
    else:
        tally.server_cpu += cpu_after - cpu_before


def bar_check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each bar target's requests/s over each peer's, at each concurrency, against the bar."""
    checks = []
    for key in BAR_TARGETS:
        for peer, needed in BAR.items():
            if key not in results or peer not in results:
                continue
            for concurrency in map(str, CONCURRENCY):
                mine = results[key]["by_concurrency"][concurrency]["requests_per_s"]
                theirs = results[peer]["by_concurrency"][concurrency]["requests_per_s"]
                times = mine / theirs
                checks.append(
                    {
                        "target": key,
                        "peer": peer,
                        "concurrency": int(concurrency),
                        "ratio": times,
                        "needed": needed,
                        "met": times >= needed,
                    }
                )
    return checks


def baseline_ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each tunelab target's requests/s and server CPU per request over its baseline's."""
    rows = []
    for key, entry in results.items():
        base = results.get(BASELINE + key)
        if base is None:
            continue
        for level in map(str, CONCURRENCY):
            mine, theirs = entry["by_concurrency"][level], base["by_concurrency"][level]
            cpu, base_cpu = mine["server_cpu_us_per_request"], theirs["server_cpu_us_per_request"]
            rows.append(
                {
                    "target": key,
                    "concurrency": int(level),
                    "requests_per_s_ratio": mine["requests_per_s"] / theirs["requests_per_s"],
                    "server_cpu_ratio": None if not cpu or not base_cpu else cpu / base_cpu,
                }
            )
    return rows


def report(payload: dict[str, Any], *, markdown: bool) -> None:
    """Print the table (requests/s, ratios to the peers, latency, server CPU) and the bar."""
    results = payload["targets"]
    rows = []
    for entry in results.values():
        row: list[Any] = [entry["label"]]
        for level in map(str, CONCURRENCY):
            cell = entry["by_concurrency"][level]
            row.append(cell["requests_per_s"])
            for peer in PEERS:
                base = results.get(peer, {}).get("by_concurrency", {}).get(level, {})
                row.append(ratio(cell["requests_per_s"], base.get("requests_per_s")))
            row += [cell["p50_ms"], cell["p99_ms"]]
        cpu = entry["by_concurrency"][str(CONCURRENCY[-1])]["server_cpu_us_per_request"]
        rows.append([*row, None if cpu is None else cpu / 1e3])
    columns = ["server"]
    for concurrency in CONCURRENCY:
        columns += [f"req/s c={concurrency}", "x MLflow", "x BentoML", "p50 ms", "p99 ms"]
    columns.append(f"server CPU ms/req c={CONCURRENCY[-1]}")
    print_table("One-row requests to a 100-tree random forest", columns, rows, markdown=markdown)
    for check in payload["bar"]:
        verdict = "met" if check["met"] else "NOT met"
        print(
            f"bar: {check['target']} at c={check['concurrency']} does {check['ratio']:.1f}x "
            f"{check['peer']} (needs {check['needed']:.0f}x): {verdict}"
        )
    for row in payload.get("against_baseline", []):
        cpu = row["server_cpu_ratio"]
        print(
            f"vs baseline: {row['target']} at c={row['concurrency']}: "
            f"{row['requests_per_s_ratio']:.3f}x requests/s"
            + ("" if cpu is None else f", {cpu:.3f}x server CPU per request")
        )
    for key, reason in payload["skipped"].items():
        print(f"skipped {key}: {reason[:300]}")


def _http_stack(python: str) -> dict[str, bool]:
    """Whether uvicorn finds httptools and uvloop (its faster HTTP parser and loop) there."""
    probe = "import importlib.util as u; print(*(bool(u.find_spec(m)) for m in %r))"
    probe %= (("httptools", "uvloop"),)
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    found = done.stdout.split()
    return {"httptools": found[:1] == ["True"], "uvloop": found[1:2] == ["True"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=int,
        default=20,
        help=f"timed seconds per configuration and concurrency, in {BLOCKS} blocks",
    )
    parser.add_argument("--mlflow-venv", type=Path, help="virtualenv with mlflow installed")
    parser.add_argument("--bentoml-venv", type=Path, help="virtualenv with BentoML installed")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also serve with the tunelab package under this folder (another checkout's src/), "
        "in the same run, and print each target's requests/s and CPU per request against it; "
        "results go to serving-vs-baseline.json",
    )
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
    if shutil.which("wrk") is None:
        sys.exit("this benchmark drives load with wrk: run scripts/install-loadgen.sh")
    if args.seconds < BLOCKS:
        sys.exit(f"--seconds must be at least {BLOCKS} (one per block)")
    venvs = {}
    for name, venv in (("mlflow", args.mlflow_venv), ("bentoml", args.bentoml_venv)):
        if venv is not None:
            venvs[name] = venv
    load_before = list(os.getloadavg())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tunelab-serving-bench-") as tmp:
        payload = run(args.seconds, venvs, Path(tmp), args.baseline_src)
    payload["bar"] = bar_check(payload["targets"])
    payload["machine"] = machine_info(
        ["tunelab", "scikit-learn", "onnxruntime", "fastapi", "uvicorn", "httpx"]
    )
    payload["machine"]["load_average_before"] = load_before
    payload["settings"] = {
        "seconds_per_configuration": BLOCKS * max(1, args.seconds // BLOCKS),
        "warmup_seconds": WARMUP_SECONDS,
        "blocks": BLOCKS,
        "trees": N_TREES,
        "load_generator": _wrk_version(),
        "run_minutes": (time.perf_counter() - started) / 60,
        "peers": {name: str(path) for name, path in venvs.items()},
        "http_stack": {
            "tunelab": _http_stack(sys.executable),
            **{name: _http_stack(str(path / "bin" / "python")) for name, path in venvs.items()},
        },
    }
    if args.baseline_src is not None:
        payload["settings"]["baseline_src"] = str(args.baseline_src)
        payload["against_baseline"] = baseline_ratios(payload["targets"])
    name = "serving.json" if args.baseline_src is None else "serving-vs-baseline.json"
    path = write_json(name, payload)
    report(payload, markdown=args.markdown)
    print(f"wrote {path}")


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0]


if __name__ == "__main__":
    main()
