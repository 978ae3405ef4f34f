"""Scale-out: many workers on a sleeping objective, against the ideal wall time.

Workload: N trials of an objective that suggests one float and sleeps S seconds,
run by W workers at once. The ideal wall time is N * S / W; the overhead is how
much longer a run takes, in percent of the ideal. Sleeping workers leave the
cores free, so two cores can host 16 workers: what is measured is the cost of
coordinating them (sampling, storage, scheduling, messages), not computing.

Engines, each timed from the first trial asked for to the last one stored (the
cluster is started before and stopped after the clock):

* ``tunelab+dask``: ``study.optimize(executor=DaskExecutor(client))`` on a
  LocalCluster of W single-threaded worker processes.
* ``tunelab+ray``: ``study.optimize(executor=RayExecutor(...))`` on a local Ray
  with W CPUs, its W worker processes started before the clock (as the
  LocalCluster's are; the seconds that took are in the results).
* ``tunelab worker``: W ``tunelab worker`` processes against a PostgreSQL study,
  no coordinator (the clock includes starting the processes).
* ``optuna+dask``: Optuna's ``DaskStorage`` (from optuna-integration) with one
  ``study.optimize`` task per Dask worker, Optuna's documented pattern.
* ``ray tune``: Ray Tune's own runner (``Tuner.fit``) with its default searcher.

Fault run: W ``tunelab worker`` processes on PostgreSQL, a quarter of them
SIGKILLed at random moments; afterwards the study must hold exactly N COMPLETE
trials, every trial a worker saw stored COMPLETE must still be COMPLETE, no
configuration may have completed twice, and no trial may be RUNNING or WAITING.

Simulated workers: T threads in one process play workers (ask, sleep S, tell)
against one study on PostgreSQL: the study in that process is the coordinator.
Trials per second against T shows where the coordinator saturates.

Usage::

    python benchmarks/scale_out.py                 # 2,000 trials x 0.5 s, 16 workers
    python benchmarks/scale_out.py --quick         # 200 trials, fewer simulated workers
    python benchmarks/scale_out.py --only dask fault
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from _common import REPO_ROOT, add_repo_to_path, machine_info, print_table, write_json

import tunelab as tl

ENGINES = ("dask", "ray", "worker", "optuna_dask", "ray_tune")
PARTS = (*ENGINES, "fault", "simulated")
# Trial lease in the runs below: heartbeats every 2 s, FAIL after 10 s without one.
HEARTBEAT_S = 2.0
GRACE_S = 10.0


def sleepy(trial: Any) -> float:
    """The workload: one float parameter, then a sleep of $SCALE_OUT_SLEEP seconds."""
    x = trial.suggest_float("x", -10.0, 10.0)
    time.sleep(float(os.environ.get("SCALE_OUT_SLEEP", "0.5")))
    return x * x


def _result(engine: str, wall: float, n_trials: int, sleep: float, workers: int) -> dict[str, Any]:
    ideal = n_trials * sleep / workers
    return {
        "engine": engine,
        "trials": n_trials,
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "overhead_pct": round(100.0 * (wall - ideal) / ideal, 1),
    }


def _timed_optimize(
    study: tl.Study, n_trials: int, executor: Any
) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``study.optimize``, and the coordinator's CPU per trial.

    The CPU time is this whole process's (the coordinator loop, its reader
    threads and the cluster client's own threads): less sensitive to other
    programs' load than the wall time.
    """
    cpu = time.process_time()
    start = time.perf_counter()
    study.optimize(sleepy, n_trials=n_trials, executor=executor)
    wall = time.perf_counter() - start
    per_trial = 1000.0 * (time.process_time() - cpu) / n_trials
    return wall, {"coordinator_cpu_ms_per_trial": round(per_trial, 2)}


def _tunelab_study() -> tl.Study:
    from tunelab.samplers import RandomSampler

    # Random sampling: the engines are compared, not the samplers (Ray Tune's default
    # searcher is random too).
    return tl.create_study(sampler=RandomSampler(seed=0))


def _complete(study: tl.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(tl.TrialState.COMPLETE,)))


def run_dask(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from tunelab.execution import DaskExecutor

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(os.environ.__setitem__, "SCALE_OUT_SLEEP", str(sleep))
        study = _tunelab_study()
        wall, cpu = _timed_optimize(study, n_trials, DaskExecutor(client))
    row = _result("tunelab+dask", wall, n_trials, sleep, workers)
    return {**row, **cpu, "complete": _complete(study)}


def _ray_worker_up(folder: str, count: int) -> int:
    """A Ray task that returns once ``count`` of them run at once, each in its own process."""
    from pathlib import Path

    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 300
    while len(os.listdir(folder)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid()


def _start_ray_workers(workers: int) -> float:
    """Start Ray's W worker processes, as a LocalCluster starts its W workers; seconds taken.

    ``ray.init`` returns before any worker process exists; Ray starts them when
    tasks come, two at a time on this machine, a second or more each.
    """
    import ray

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        up = ray.remote(_ray_worker_up)
        pids = ray.get([up.remote(folder, workers) for _ in range(workers)])
    if len(set(pids)) != workers:
        raise RuntimeError(f"{workers} Ray worker processes were asked for, {len(set(pids))} ran")
    return time.perf_counter() - start


def run_ray(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    import ray

    from tunelab.execution import RayExecutor  # type: ignore[attr-defined]

    ray.init(
        num_cpus=workers,
        include_dashboard=False,
        runtime_env={"env_vars": {"SCALE_OUT_SLEEP": str(sleep)}},
        log_to_driver=False,
    )
    try:
        warm_up = _start_ray_workers(workers)
        study = _tunelab_study()
        executor = RayExecutor(resources_per_trial={"num_cpus": 1})
        wall, cpu = _timed_optimize(study, n_trials, executor)
    finally:
        ray.shutdown()
    row = _result("tunelab+ray", wall, n_trials, sleep, workers)
    return {**row, **cpu, "worker_start_s": round(warm_up, 2), "complete": _complete(study)}


def _start_workers(
    url: str, study: str, n_trials: int, count: int, sleep: float
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT / "benchmarks")]),
        "SCALE_OUT_SLEEP": str(sleep),
    }
    argv = [
        sys.executable,
        "-m",
        "tunelab.cli",
        "worker",
        study,
        "--storage",
        url,
        "--objective",
        "scale_out:sleepy",
        "--sampler",
        "random",
        "--n-trials",
        str(n_trials),
    ]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return [subprocess.Popen(argv, env=env, **quiet) for _ in range(count)]  # type: ignore[call-overload]


def _fresh_database(server_url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _leased_study(url: str, name: str) -> None:
    from tunelab.samplers import RandomSampler

    tl.create_study(
        study_name=name,
        storage=url,
        sampler=RandomSampler(),
        retry_failed=2,
        heartbeat_interval=HEARTBEAT_S,
        grace_period=GRACE_S,
    )


def run_worker_cli(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    url = _fresh_database(pg_url, "scale_out_workers")
    _leased_study(url, "sleepy")
    start = time.perf_counter()
    procs = _start_workers(url, "sleepy", n_trials, workers, sleep)
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    study = tl.load_study(study_name="sleepy", storage=url)
    trials = study.get_trials(deepcopy=False)
    # Starting W Python processes is part of the wall time; the trials' own span is not.
    first = min(t.datetime_start for t in trials if t.datetime_start is not None)
    last = max(t.datetime_complete for t in trials if t.datetime_complete is not None)
    span = _result("", (last - first).total_seconds(), n_trials, sleep, workers)
    return {
        **_result("tunelab worker (PostgreSQL)", wall, n_trials, sleep, workers),
        "first_to_last_trial_s": span["wall_s"],
        "overhead_first_to_last_pct": span["overhead_pct"],
        "complete": _complete(study),
        "trials_stored": len(study.get_trials(deepcopy=False)),
        "exit_codes": sorted(set(codes)),
    }


def run_optuna_dask(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    import optuna
    from distributed import Client, LocalCluster, wait
    from optuna_integration.dask import DaskStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(os.environ.__setitem__, "SCALE_OUT_SLEEP", str(sleep))
        client.run(optuna.logging.set_verbosity, optuna.logging.WARNING)
        storage = DaskStorage()
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        shares = [n_trials // workers + (i < n_trials % workers) for i in range(workers)]
        start = time.perf_counter()
        # A run that cannot finish near the ideal is cut, and says so (as for Ray Tune).
        budget = max(60.0, 2 * n_trials * sleep / workers)
        futures = [
            client.submit(study.optimize, sleepy, n_trials=share, timeout=budget, pure=False)
            for share in shares
        ]
        wait(futures)
        wall = time.perf_counter() - start
        for future in futures:
            future.result()
        complete = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    return _judged("optuna+dask (DaskStorage)", wall, n_trials, complete, sleep, workers)


def _ray_tune_trainable(config: dict[str, Any]) -> dict[str, float]:
    time.sleep(config["sleep"])
    return {"loss": config["x"] ** 2}


def run_ray_tune(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    import ray
    from ray import tune

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tuner = tune.Tuner(
                _ray_tune_trainable,
                param_space={"x": tune.uniform(-10.0, 10.0), "sleep": sleep},
                tune_config=tune.TuneConfig(
                    metric="loss",
                    mode="min",
                    num_samples=n_trials,
                    max_concurrent_trials=workers,
                    # One process per trial otherwise: seconds each on a small machine.
                    reuse_actors=True,
                    # A run that cannot finish near the ideal is cut, and says so.
                    time_budget_s=max(60.0, 2 * n_trials * sleep / workers),
                ),
                run_config=tune.RunConfig(storage_path=tmp, verbose=0),
            )
            start = time.perf_counter()
            results = tuner.fit()
            wall = time.perf_counter() - start
            complete = sum(r.error is None and r.metrics.get("loss") is not None for r in results)
    finally:
        ray.shutdown()
    return _judged("ray tune (default searcher)", wall, n_trials, complete, sleep, workers)


def _judged(
    engine: str, wall: float, n_trials: int, complete: int, sleep: float, workers: int
) -> dict[str, Any]:
    """The result row; a run cut by its time budget is judged on the trials it finished."""
    if complete < n_trials:
        row = _result(engine, wall, complete, sleep, workers)
        return {**row, "asked": n_trials, "cut_by_time_budget": True, "complete": complete}
    return {**_result(engine, wall, n_trials, sleep, workers), "complete": complete}


def _watch_complete(url: str, stop: threading.Event, seen: dict[int, float]) -> None:
    """Record every trial seen COMPLETE (number -> value) while the workers run."""
    study = tl.load_study(study_name="fault", storage=url)
    while not stop.wait(0.5):
        for trial in study.get_trials(deepcopy=False, states=(tl.TrialState.COMPLETE,)):
            seen.setdefault(trial.number, float(trial.values[0]))


def run_fault(n_trials: int, sleep: float, workers: int, pg_url: str) -> dict[str, Any]:
    """SIGKILL a quarter of the workers at random moments; count what went wrong."""
    url = _fresh_database(pg_url, "scale_out_fault")
    _leased_study(url, "fault")
    rng = random.Random(0)
    ideal = n_trials * sleep / workers
    seen: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_complete, args=(url, stop, seen), daemon=True)
    watcher.start()
    start = time.perf_counter()
    procs = _start_workers(url, "fault", n_trials, workers, sleep)
    while not seen:  # the workers have started: kill them at work, not while importing
        time.sleep(0.1)
    started = time.perf_counter()
    victims = rng.sample(procs, max(1, workers // 4))
    moments = sorted(rng.uniform(0.0, 0.8 * ideal) for _ in victims)
    for victim, moment in zip(victims, moments, strict=True):
        time.sleep(max(0.0, moment - (time.perf_counter() - started)))
        victim.send_signal(signal.SIGKILL)
    survivors = [p for p in procs if p not in victims]
    codes = [p.wait() for p in survivors]
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    study = tl.load_study(study_name="fault", storage=url)
    trials = study.get_trials()
    final = {t.number: t for t in trials}
    completed = [t for t in trials if t.state == tl.TrialState.COMPLETE]
    configs = Counter(t.params["x"] for t in completed)
    # Lost: seen COMPLETE during the run, but no longer COMPLETE with that value.
    lost = sum(
        1
        for number, value in seen.items()
        if final[number].state != tl.TrialState.COMPLETE or final[number].values != [value]
    )
    return {
        "engine": "tunelab worker (PostgreSQL), 25% SIGKILLed",
        "workers": workers,
        "killed": len(victims),
        "kill_moments_s": [round(m, 1) for m in moments],
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "n_trials": n_trials,
        "n_trials_reached": len(completed) == n_trials,
        "complete": len(completed),
        "complete_seen_during_run": len(seen),
        "finished_trials_lost": lost,
        "duplicate_configurations": sum(c - 1 for c in configs.values() if c > 1),
        "left_running_or_waiting": sum(
            t.state in (tl.TrialState.RUNNING, tl.TrialState.WAITING) for t in trials
        ),
        "failed_by_lease": sum(1 for t in trials if "no heartbeat" in (t.fail_reason or "")),
        "retries": sum(1 for t in trials if "retry_of" in t.system_attrs),
        "survivor_exit_codes": sorted(set(codes)),
    }


def run_simulated(
    sleep: float, counts: list[int], seconds: float, pg_url: str
) -> list[dict[str, Any]]:
    """T threads doing ask / sleep / tell on one PostgreSQL study, for ``seconds`` each."""
    from tunelab.samplers import RandomSampler

    rows = []
    for count in counts:
        url = _fresh_database(pg_url, f"scale_out_sim_{count}")
        study = tl.create_study(storage=url, sampler=RandomSampler(seed=0))
        stop = threading.Event()
        done = [0] * count
        errors: list[str] = []

        def worker(
            slot: int,
            study: tl.Study = study,
            stop: threading.Event = stop,
            done: list[int] = done,
            errors: list[str] = errors,
        ) -> None:
            try:
                while not stop.is_set():
                    trial = study.ask()
                    x = trial.suggest_float("x", -10.0, 10.0)
                    time.sleep(sleep)
                    study.tell(trial, x * x)
                    done[slot] += 1
            except Exception as exc:  # reported in the results, not hidden
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        time.sleep(min(2.0, seconds / 4))  # ramp-up: every worker has its first trial
        base = sum(done)
        start = time.perf_counter()
        time.sleep(seconds)
        finished = sum(done) - base
        elapsed = time.perf_counter() - start
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        demand = count / sleep
        rows.append(
            {
                "workers": count,
                "trials_per_s": round(finished / elapsed, 1),
                "demand_per_s": round(demand, 1),
                "served_pct": round(100.0 * finished / elapsed / demand, 1),
                "errors": errors[:3],
            }
        )
        print(f"  simulated {count} workers: {rows[-1]['trials_per_s']} trials/s", flush=True)
        study.storage.close()
    return rows


RUNNERS: dict[str, Callable[[int, float, int, str], dict[str, Any]]] = {
    "dask": run_dask,
    "ray": run_ray,
    "worker": run_worker_cli,
    "optuna_dask": run_optuna_dask,
    "ray_tune": run_ray_tune,
    "fault": run_fault,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="200 trials, a short simulation")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--sim-workers", type=int, nargs="+", default=None)
    parser.add_argument("--sim-seconds", type=float, default=None)
    parser.add_argument("--no-write", action="store_true", help="Do not write the JSON results")
    parser.add_argument(
        "--update",
        action="store_true",
        help="Replace only the parts run now in the existing results/scale_out.json",
    )
    args = parser.parse_args()
    n_trials = 200 if args.quick else args.trials
    sim_counts = args.sim_workers or (
        [1, 16, 100, 250] if args.quick else [1, 16, 100, 250, 500, 1000]
    )
    sim_seconds = args.sim_seconds or (5.0 if args.quick else 10.0)
    os.environ["SCALE_OUT_SLEEP"] = str(args.sleep)
    add_repo_to_path()
    from tests.support.postgres import postgres_server

    payload: dict[str, Any] = {
        "machine": machine_info(["tunelab", "optuna", "optuna-integration", "distributed", "ray"]),
        "settings": {"trials": n_trials, "workers": args.workers, "sleep_s": args.sleep},
        "engines": [],
        "skipped": {},
        "ran": list(args.only),
    }
    with postgres_server() as pg_url:
        for part in args.only:
            if part == "simulated":
                print("simulated workers ...", flush=True)
                payload["simulated"] = {
                    "sleep_s": args.sleep,
                    "seconds_each": sim_seconds,
                    "rows": run_simulated(args.sleep, sim_counts, sim_seconds, pg_url),
                }
                continue
            print(f"{part} ...", flush=True)
            try:
                row = RUNNERS[part](n_trials, args.sleep, args.workers, pg_url)
            except (ImportError, AttributeError) as exc:
                payload["skipped"][part] = f"{type(exc).__name__}: {exc}"
                print(f"  skipped: {exc}", flush=True)
                continue
            except Exception as exc:
                payload["skipped"][part] = f"failed: {type(exc).__name__}: {exc}"
                traceback.print_exc()
                continue
            print(f"  {row}", flush=True)
            if part == "fault":
                payload["fault"] = row
            else:
                payload["engines"].append(row)
    if args.update:
        payload = _merged(payload)
    _report(payload)
    if not args.no_write:
        print(f"wrote {write_json('scale_out.json', payload)}")


def _merged(new: dict[str, Any]) -> dict[str, Any]:
    """The stored results with this run's engines, fault run and simulation put in."""
    import json

    from _common import RESULTS_DIR

    old = json.loads((RESULTS_DIR / "scale_out.json").read_text())
    names = {e["engine"] for e in new["engines"]}
    merged = {**old, **{k: v for k, v in new.items() if k in ("fault", "simulated")}}
    merged["engines"] = [e for e in old["engines"] if e["engine"] not in names] + new["engines"]
    merged["skipped"] = {k: v for k, v in old["skipped"].items() if k not in new["ran"]}
    merged["skipped"] |= new["skipped"]
    merged["ran"] = sorted(set(old.get("ran", [])) | set(new["ran"]))
    merged["machine_update"] = new["machine"]
    return merged


def _report(payload: dict[str, Any]) -> None:
    rows = [
        [
            e["engine"],
            e["trials"],
            e.get("complete"),
            e["wall_s"],
            e["ideal_s"],
            e["overhead_pct"],
            e.get("coordinator_cpu_ms_per_trial"),
        ]
        for e in payload["engines"]
    ]
    rows += [
        [name, None, None, None, None, why[:60], None] for name, why in payload["skipped"].items()
    ]
    print_table(
        f"{payload['settings']['trials']} trials x {payload['settings']['sleep_s']} s, "
        f"{payload['settings']['workers']} workers (bar: overhead <= 15%)",
        ["engine", "trials", "complete", "wall s", "ideal s", "overhead %", "coord. CPU ms/trial"],
        rows,
        markdown=True,
    )
    if "fault" in payload:
        fault = payload["fault"]
        print_table(
            "Fault run",
            ["measure", "value"],
            [[k, str(v)] for k, v in fault.items()],
            markdown=True,
        )
    if "simulated" in payload:
        sim = payload["simulated"]["rows"]
        print_table(
            "Simulated workers (threads, ask / sleep / tell on PostgreSQL)",
            ["workers", "trials/s", "demand/s", "served %"],
            [[r["workers"], r["trials_per_s"], r["demand_per_s"], r["served_pct"]] for r in sim],
            markdown=True,
        )


if __name__ == "__main__":
    main()
