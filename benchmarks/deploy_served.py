"""Served latency against tuned latency: does ``tunelab serve`` run the picked model as fast
as tuning measured it?

A deployment-aware study measures each trial's model with :func:`tunelab.deploy.measure`
(ONNX Runtime, one thread, one-row calls); ``tunelab register --pick`` refits the chosen
trial and measures it again, and both numbers go into the model card. This script serves
the registered model with ``tunelab serve`` (a real subprocess, one worker, on loopback),
sends it one-row Open Inference Protocol requests from a small keep-alive load generator,
and reads the server's ``/metrics``: the p95 of the model call itself
(``tunelab_model_inference_p95_seconds``, over the last calls) beside the card's tuned and
refit p95 and the client's end-to-end p95.

The issue's bar: the served in-model p95 within 10 % (or 0.2 ms) of the tuned p95.

``__main__`` builds its own case: gradient-boosted trees on scikit-learn's digits, four
configurations measured as trials of a 3-objective study (f1, latency_p95_ms, size_mb),
the most accurate one under the latency rule registered with ``--pick``, then served.

Usage::

    python benchmarks/deploy_served.py                      # 2,000 requests, concurrency 1
    python benchmarks/deploy_served.py --requests 5000 --concurrency 2
    python benchmarks/deploy_served.py --config examples/digits_deploy.yaml   # the README flow
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import REPO_ROOT, machine_info, print_table, write_json

STARTUP_SECONDS = 120.0
WARMUP_REQUESTS = 200
BAR_RELATIVE = 0.10
BAR_ABSOLUTE_MS = 0.2
SERVED_NAME = "served"


def run_served(
    *,
    artifact_dir_or_ref: str | os.PathLike[str],
    registry: str | os.PathLike[str],
    sample: Any,
    requests: int = 2000,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Serve a model with ``tunelab serve`` and compare its served latency with its card's.

    Args:
        artifact_dir_or_ref: An artifact directory (registered into ``registry`` first) or
            a reference in ``registry`` such as ``name:3`` or ``name@production``.
        registry: The registry's folder or URL.
        sample: Rows to send, one per request, cycling (a 2-D array or DataFrame).
        requests: Timed requests, after :data:`WARMUP_REQUESTS` untimed ones.
        concurrency: Connections sending at once (one thread each, keep-alive).

    Returns:
        The card's tuned and refit p95, the server's in-model p50/p95 and histogram
        count, the client's end-to-end p50/p95, requests/s and the bar's verdict.
    """
    from tunelab.deploy import Registry

    store = Registry(registry)
    ref = str(artifact_dir_or_ref)
    if Path(ref).is_dir():
        ref = f"{SERVED_NAME}:{store.register(SERVED_NAME, ref)}"
    name, version = store.resolve(ref)
    loaded = store.load(f"{name}:{version}")
    deployment = loaded.card.deployment or {}
    rows = np.asarray(sample, dtype=np.float64)
    bodies = [_infer_body(row) for row in rows]
    local_ms = _local_calls(loaded, rows, requests)
    port = _free_port()
    command = [sys.executable, "-m", "tunelab.cli", "serve", f"{name}:{version}"]
    command += ["--port", str(port), "--registry", store.url]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROMETHEUS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")])
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    path = f"/v2/models/{name}/infer"
    try:
        _wait_ready(url, server)
        _drive(url + path, bodies, WARMUP_REQUESTS, concurrency)
        started = time.perf_counter()
        client_ms = _drive(url + path, bodies, requests, concurrency)
        seconds = time.perf_counter() - started
        metrics = httpx.get(url + "/metrics", timeout=10).text
        backend = httpx.get(f"{url}/v2/models/{name}", timeout=10).json()["parameters"]["backend"]
    finally:
        _stop(server)
    labels = {"model": name, "version": str(version)}
    served_p95 = _sample(metrics, "tunelab_model_inference_p95_seconds", labels) * 1e3
    served_p50 = _sample(metrics, "tunelab_model_inference_p50_seconds", labels) * 1e3
    tuned_card, refit_card = deployment.get("tuned") or {}, deployment.get("refit") or {}
    tuned = tuned_card.get("latency_p95_ms")
    result: dict[str, Any] = {
        "model": f"{name}:{version}",
        "backend": backend,
        "precision": deployment.get("precision"),
        "requests": requests,
        "concurrency": concurrency,
        "requests_per_s": requests / seconds,
        "pick": deployment.get("pick"),
        "tuned_p50_ms": tuned_card.get("latency_p50_ms"),
        "tuned_p95_ms": tuned,
        "refit_p50_ms": refit_card.get("latency_p50_ms"),
        "refit_p95_ms": refit_card.get("latency_p95_ms"),
        "served_model_p50_ms": served_p50,
        "served_model_p95_ms": served_p95,
        "served_model_calls": _sample(metrics, "tunelab_model_inference_seconds_count", labels),
        "local_p50_ms": float(np.percentile(local_ms, 50)),
        "local_p95_ms": float(np.percentile(local_ms, 95)),
        "client_p50_ms": float(np.percentile(client_ms, 50)),
        "client_p95_ms": float(np.percentile(client_ms, 95)),
    }
    if tuned is not None:
        allowed = max(BAR_RELATIVE * tuned, BAR_ABSOLUTE_MS)
        result["bar"] = {
            "allowed_ms": allowed,
            "difference_ms": served_p95 - tuned,
            "met": abs(served_p95 - tuned) <= allowed,
        }
    return result


def _local_calls(loaded: Any, rows: np.ndarray, calls: int) -> np.ndarray:
    """Milliseconds of back-to-back one-row calls of the loaded artifact's runtime, in this
    process: the served model without HTTP between its calls."""
    runner = loaded.runner
    run = runner.run if runner is not None else loaded.model.predict
    for i in range(WARMUP_REQUESTS):
        run(rows[i % len(rows) : i % len(rows) + 1])
    times = np.empty(calls)
    for i in range(calls):
        row = rows[i % len(rows) : i % len(rows) + 1]
        start = time.perf_counter()
        run(row)
        times[i] = (time.perf_counter() - start) * 1e3
    return times


def _infer_body(row: np.ndarray) -> bytes:
    """One row as an Open Inference Protocol request with a single FP64 matrix tensor."""
    tensor = {"name": "matrix", "datatype": "FP64", "shape": [1, len(row)], "data": row.tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def _drive(url: str, bodies: list[bytes], requests: int, concurrency: int) -> np.ndarray:
    """Send ``requests`` requests from ``concurrency`` keep-alive connections; milliseconds each."""
    times = np.empty(requests)
    counter = iter(range(requests))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        headers = {"content-type": "application/json"}
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                body = bodies[index % len(bodies)]
                start = time.perf_counter()
                answer = client.post(url, content=body, headers=headers)
                times[index] = (time.perf_counter() - start) * 1e3
                if answer.status_code != 200:
                    failures.append(answer.text[:200])
                    return

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"the server refused a request: {failures[0]}")
    return times


def _sample(text: str, name: str, labels: dict[str, str]) -> float:
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and wanted <= set(match.group(1).split(",")):
            return float(match.group(2))
    raise RuntimeError(f"the server's /metrics has no {name} for {labels}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tunelab serve exited: {server.communicate()[0][-2000:]}")
        try:
            if httpx.get(url + "/v2/health/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"tunelab serve did not start in {STARTUP_SECONDS:.0f} s")


def _stop(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


# -- the case __main__ measures -----------------------------------------------------------------

CONFIGS = [
    {"n_estimators": 10, "max_depth": 2},
    {"n_estimators": 20, "max_depth": 3},
    {"n_estimators": 40, "max_depth": 3},
    {"n_estimators": 60, "max_depth": 4},
]
PICK = "latency_p95_ms < 1"


def tune_and_register(folder: Path) -> tuple[str, Any, dict[str, Any]]:
    """Measure GBT configurations on digits as trials of a 3-objective study, register the pick.

    Returns:
        The registry folder, the sample rows to serve, and the trials' values.
    """
    from sklearn.datasets import load_digits
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    import tunelab as tl
    from tunelab.config import register_best_trial
    from tunelab.deploy import measure

    X, y = load_digits(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    study = tl.create_study(
        study_name="digits-gbt",
        storage=f"sqlite:///{folder / 'studies.db'}",
        directions=["maximize", "minimize", "minimize"],
    )
    study.set_metric_names(["f1", "latency_p95_ms", "size_mb"])
    model = {"class": "sklearn.ensemble.GradientBoostingClassifier", "params": {"random_state": 0}}
    study.set_user_attr("model", model)
    study.set_user_attr("data", "sklearn:digits")
    study.set_user_attr("deploy", {"precision": "float32", "sample_rows": 256, "calls": 200})
    trials = []
    for config in CONFIGS:
        study.enqueue_trial(config)
        trial = study.ask()
        params = {
            "n_estimators": trial.suggest_int("n_estimators", 10, 100),
            "max_depth": trial.suggest_int("max_depth", 2, 5),
        }
        model = GradientBoostingClassifier(random_state=0, **params).fit(X_train, y_train)
        f1 = float(f1_score(y_test, model.predict(X_test), average="macro"))
        measured = measure(model, X_train.iloc[:256], calls=200, batch_rows=256)
        trial.set_user_attr("deployment", {**measured.to_dict(), "precision": "float32"})
        study.tell(trial, [f1, measured.latency_p95_ms, measured.size_mb])
        trials.append({"params": params, "f1": f1, **measured.to_dict()})
    registry = str(folder / "registry")
    register_best_trial(study, name="digits", registry=registry, pick=PICK, by="f1")
    return registry, X_test.to_numpy(), {"trials": trials, "picked": study.user_attrs}


def tune_config_and_register(
    folder: Path, config: Path, pick: str, by: str
) -> tuple[str, Any, dict[str, Any]]:
    """Run a deployment-aware config as ``tunelab tune`` does, then register its pick.

    The config's storage is replaced by a database in ``folder``; everything else (data,
    families, objectives, constraints, the deploy block) is the file's.

    Returns:
        The registry folder, the data's rows to serve, and the trials' values.
    """
    import yaml

    from tunelab.config import (
        load_data,
        load_study_config,
        register_best_trial,
        run_study_config,
    )

    spec = yaml.safe_load(config.read_text())
    spec["storage"] = f"sqlite:///{folder / 'studies.db'}"
    copy = folder / config.name
    copy.write_text(yaml.safe_dump(spec, sort_keys=False))
    study = run_study_config(load_study_config(copy), show_progress_bar=False)
    registry = str(folder / "registry")
    register_best_trial(study, name="digits", registry=registry, pick=pick, by=by)
    X, _ = load_data(spec["data"])
    trials = [
        {"number": t.number, "params": t.params, "values": t.values}
        for t in study.trials
        if t.values is not None
    ]
    return registry, np.asarray(X), {"trials": trials, "picked": study.user_attrs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests")
    parser.add_argument("--concurrency", type=int, default=1, help="connections at once")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--config",
        type=Path,
        help="tune this deployment-aware config (e.g. examples/digits_deploy.yaml) and serve "
        "its pick, instead of the built-in four boosted-tree trials",
    )
    parser.add_argument(
        "--pick",
        default="latency_p95_ms < 1 and size_mb < 1",
        help="with --config: the register --pick rule",
    )
    parser.add_argument("--by", default="f1_macro", help="with --config: metric to rank by")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tunelab-deploy-served-") as tmp:
        if args.config is not None:
            registry, sample, study = tune_config_and_register(
                Path(tmp), args.config.resolve(), args.pick, args.by
            )
        else:
            registry, sample, study = tune_and_register(Path(tmp))
        result = run_served(
            artifact_dir_or_ref="digits",
            registry=registry,
            sample=sample,
            requests=args.requests,
            concurrency=args.concurrency,
        )
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    payload = {
        "result": result,
        "study": study["trials"],
        "picked_trial": study["picked"].get("picked_trial"),
        "uptime": uptime.strip(),
        "machine": machine_info(["tunelab", "scikit-learn", "onnxruntime", "uvicorn", "httpx"]),
    }
    bar = result.get("bar") or {}
    print_table(
        f"Served vs tuned latency of {result['model']} (trial {result['pick']['trial']}, "
        f"{result['backend']}, "
        f"{args.requests} one-row requests, concurrency {args.concurrency})",
        ["", "p95 ms", "p50 ms"],
        [
            ["tuned (trial's measure)", result["tuned_p95_ms"], result["tuned_p50_ms"]],
            ["refit (register's measure)", result["refit_p95_ms"], result["refit_p50_ms"]],
            ["artifact, here, no HTTP", result["local_p95_ms"], result["local_p50_ms"]],
            ["served, model call", result["served_model_p95_ms"], result["served_model_p50_ms"]],
            ["client, end to end", result["client_p95_ms"], result["client_p50_ms"]],
        ],
        markdown=args.markdown,
    )
    verdict = "met" if bar.get("met") else "NOT met"
    print(
        f"bar (served within {BAR_RELATIVE:.0%} or {BAR_ABSOLUTE_MS} ms of tuned): {verdict}, "
        f"difference {bar.get('difference_ms', float('nan')):+.3f} ms; "
        f"{result['requests_per_s']:.0f} requests/s; {uptime.strip()}"
    )
    print(f"wrote {write_json('deploy_served.json', payload)}")


if __name__ == "__main__":
    main()
