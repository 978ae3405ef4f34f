"""Dashboard benchmark: a 100,000-trial, 20-parameter study on SQLite in headless Chromium.

Measures, for ``tunelab dashboard`` (started as its own process, as a user would):

* first meaningful paint of the study page: the time from navigation until the
  optimisation history and the first page of the trial table are drawn (the page
  marks it with ``performance.mark("first-meaningful-paint")``), on the first visit
  after the server started (*cold*: the server reads the study then) and on later
  visits (*warm*);
* update latency: from a new trial's COMPLETE state being committed to SQLite by
  another process (this one) to the open page showing it in the history and the
  table (the page records when each trial reached it).

Beside it, optuna-dashboard (when installed) on an Optuna RDB copy of the same study:
the time until its history plot shows points.

The databases are cached under ``benchmarks/results/`` (ignored by git); the
numbers go to ``benchmarks/results/dashboard.json``.

Run: ``PYTHONPATH=src python benchmarks/dashboard.py [--trials 100000 --params 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS_DIR, machine_info, print_table, write_json
from tunelab.distributions import FloatDistribution
from tunelab.storage import SQLStorage
from tunelab.trial import StudyDirection, TrialState

STUDY = "big"
CHROMIUM = "/usr/bin/chromium"


def _values(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, p))
    weights = np.linspace(2.0, 0.1, p)
    return x, ((x - 0.3) ** 2 * weights).sum(axis=1) + 0.05 * rng.standard_normal(n)


def build_tunelab(path: Path, n: int, p: int, seed: int) -> float:
    """Write the study through the schema tunelab created, in one bulk transaction."""
    start = time.perf_counter()
    storage = SQLStorage(f"sqlite:///{path}")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], STUDY)
    storage.close()
    x, y = _values(n, p, seed)
    dist = FloatDistribution(0.0, 1.0).to_json()
    began = time.time() - n
    conn = sqlite3.connect(path)
    conn.execute("BEGIN")
    conn.executemany(
        'INSERT INTO tunelab_trials (trial_id, study_id, number, state, "values", '
        "datetime_start, datetime_complete) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                i + 1,
                study_id,
                i,
                int(TrialState.COMPLETE),
                f"[{float(y[i])!r}]",
                began + i,
                began + i + 0.5,
            )
            for i in range(n)
        ),
    )
    conn.executemany(
        "INSERT INTO tunelab_trial_params VALUES (?, ?, ?, ?)",
        ((i + 1, f"x{j:02d}", float(x[i, j]), dist) for i in range(n) for j in range(p)),
    )
    conn.commit()
    conn.close()
    return time.perf_counter() - start


def build_optuna(path: Path, n: int, p: int, seed: int) -> float:
    """The same trials in Optuna's RDB schema (created by Optuna, filled in bulk)."""
    import optuna

    start = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    optuna.create_study(study_name=STUDY, storage=storage)
    storage.engine.dispose()
    x, y = _values(n, p, seed)
    dist = json.dumps(
        {
            "name": "FloatDistribution",
            "attributes": {"low": 0.0, "high": 1.0, "step": None, "log": False},
        }
    )
    conn = sqlite3.connect(path)
    conn.execute("BEGIN")
    stamp = "2026-01-01 00:00:00.000000"
    conn.executemany(
        "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
        "VALUES (?, ?, 1, 'COMPLETE', ?, ?)",
        ((i + 1, i, stamp, stamp) for i in range(n)),
    )
    conn.executemany(
        "INSERT INTO trial_values (trial_id, objective, value, value_type) "
        "VALUES (?, 0, ?, 'FINITE')",
        ((i + 1, float(y[i])) for i in range(n)),
    )
    conn.executemany(
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        "VALUES (?, ?, ?, ?)",
        ((i + 1, f"x{j:02d}", float(x[i, j]), dist) for i in range(n) for j in range(p)),
    )
    conn.commit()
    conn.close()
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _write_trial(
    storage: SQLStorage, study_id: int, p: int, rng: np.random.Generator
) -> tuple[int, float]:
    """One complete trial written as a worker would; returns its number and the commit time (ms)."""
    trial = storage.create_new_trial(study_id)
    dist = FloatDistribution(0.0, 1.0)
    for j in range(p):
        storage.set_trial_param(trial.trial_id, f"x{j:02d}", float(rng.random()), dist)
    storage.set_trial_state_values(trial.trial_id, TrialState.COMPLETE, [float(rng.random())])
    return trial.number, time.time() * 1000


def measure_tunelab(db: Path, p: int, updates: int, visits: int, settle_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    # Requests still in flight when the server is stopped print tracebacks; not ours to see.
    server = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "dashboard", f"sqlite:///{db}", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/studies/{STUDY}"
    mark = "performance.getEntriesByName('first-meaningful-paint').length > 0"
    paint = "performance.getEntriesByName('first-meaningful-paint')[0].startTime"
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 60)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_function(mark, timeout=120_000)
            cold = float(page.evaluate(paint))
            warm = []
            for _ in range(visits):
                page.reload()
                page.wait_for_function(mark, timeout=120_000)
                warm.append(float(page.evaluate(paint)))
            # The first visits start the parameter read and the importances (seconds of
            # server work at this size); updates are timed once they are done.
            page.wait_for_timeout(settle_s * 1000)
            storage = SQLStorage(f"sqlite:///{db}")
            study_id = storage.get_study_id_from_name(STUDY)
            rng = np.random.default_rng(1)
            latencies = []
            for _ in range(updates):
                number, written = _write_trial(storage, study_id, p, rng)
                page.wait_for_function(
                    f"window.__shown[{number}] && window.__shown[{number}].state === 'COMPLETE'",
                    timeout=60_000,
                )
                shown = float(page.evaluate(f"window.__shown[{number}].at"))
                latencies.append(shown - written)
                page.wait_for_timeout(500)
            storage.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    return {
        "first_paint_cold_ms": cold,
        "first_paint_warm_ms": warm,
        "first_paint_warm_median_ms": statistics.median(warm),
        "update_ms": latencies,
        "update_median_ms": statistics.median(latencies),
        "update_max_ms": max(latencies),
        "settle_s": settle_s,
        "page_errors": errors,
    }


def measure_optuna_dashboard(db: Path, visits: int, timeout_s: float) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if command is None:
        return {"skipped": "optuna-dashboard is not installed"}
    port = _free_port()
    server = subprocess.Popen(
        [command, f"sqlite:///{db}", "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    drawn = "document.querySelector('.js-plotly-plot .scatterlayer .point') !== null"
    times: list[float] = []
    outcome: dict[str, Any] = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/dashboard", 60)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for _ in range(1 + visits):
                page.goto(f"http://127.0.0.1:{port}/dashboard/studies/1")
                try:
                    page.wait_for_function(drawn, timeout=timeout_s * 1000, polling=50)
                except PlaywrightTimeout:
                    outcome["not_drawn"] = f"no history point drawn within {timeout_s} s"
                    break
                times.append(float(page.evaluate("performance.now()")))
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    return {
        **outcome,
        "history_drawn_cold_ms": times[0] if times else None,
        "history_drawn_warm_ms": times[1:],
        "history_drawn_warm_median_ms": statistics.median(times[1:]) if len(times) > 1 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before updates")
    parser.add_argument("--skip-optuna", action="store_true")
    parser.add_argument("--optuna-visits", type=int, default=1)
    parser.add_argument("--optuna-timeout", type=float, default=240.0, help="seconds per visit")
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    tag = f"{args.trials}x{args.params}"
    ours = RESULTS_DIR / f"dashboard-tunelab-{tag}.db"
    theirs = RESULTS_DIR / f"dashboard-optuna-{tag}.db"
    built: dict[str, float] = {}
    if not ours.exists():
        built["tunelab_db_s"] = build_tunelab(ours, args.trials, args.params, seed=0)
    # Each run adds trials to the cached copy; work on a fresh copy of the pristine file.
    work = RESULTS_DIR / f"dashboard-run-{tag}.db"
    shutil.copyfile(ours, work)
    for suffix in ("-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "tunelab": measure_tunelab(work, args.params, args.updates, args.visits, args.settle)
    }
    previous = RESULTS_DIR / "dashboard.json"
    if args.skip_optuna and previous.exists():
        # Keep the peer's figures of the last full run beside the new ones.
        kept = json.loads(previous.read_text()).get("optuna_dashboard")
        if isinstance(kept, dict):
            result["optuna_dashboard"] = {**kept, "from_an_earlier_run": True}
    if not args.skip_optuna:
        if not theirs.exists():
            built["optuna_db_s"] = build_optuna(theirs, args.trials, args.params, seed=0)
        write_json("dashboard.json", {**result, "optuna_dashboard": "not measured yet"})
        result["optuna_dashboard"] = measure_optuna_dashboard(
            theirs, args.optuna_visits, args.optuna_timeout
        )
    work.unlink()
    t, o = result["tunelab"], result.get("optuna_dashboard", {})
    print_table(
        f"Dashboard, {args.trials:,} trials x {args.params} parameters on SQLite (ms)",
        ["measure", "tunelab", "optuna-dashboard", "bar"],
        [
            [
                "first paint, first visit",
                t["first_paint_cold_ms"],
                o.get("history_drawn_cold_ms"),
                1000,
            ],
            [
                "first paint, later visits (median)",
                t["first_paint_warm_median_ms"],
                o.get("history_drawn_warm_median_ms"),
                1000,
            ],
            ["update after a new trial (median)", t["update_median_ms"], None, 200],
            ["update after a new trial (max)", t["update_max_ms"], None, 200],
        ],
    )
    payload = {
        "trials": args.trials,
        "params": args.params,
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "built": built,
        **result,
        "machine": machine_info(
            ["tunelab", "optuna", "optuna-dashboard", "playwright", "uvicorn", "starlette"]
        ),
    }
    print(f"wrote {write_json('dashboard.json', payload)}")


if __name__ == "__main__":
    main()
