"""Dask workers killed (kill -9) or frozen (SIGSTOP, a network split) while a study runs on them.

One ``LocalCluster`` of four single-threaded worker processes; each try runs a
study of 16 short trials (reports and pruning checks through the coordinator)
on SQLite with ``DaskExecutor``, heartbeats every 0.5 s, 2 s of grace and one
retry, while one or two random workers are killed, or frozen for 4 s, at
random moments. Clean when ``optimize`` returns, 16 trials started, nothing
is RUNNING, every FAIL names the worker that died or says its lease lapsed,
no more trials failed than faults were injected, each retry has its
original's parameters, and no trial's objective ran twice (every run leaves a
file named after its trial number).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import tunelab as tl
from benchmarks.reliability._family import Tally
from tunelab.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
_N_TRIALS = 16


def _objective(runs: str) -> Any:
    def objective(trial: tl.BaseTrial) -> float:
        Path(runs, f"{trial.number}-{uuid.uuid4().hex}").touch()
        x = trial.suggest_float("x", 0, 1)
        for step in range(4):
            time.sleep(0.05)
            trial.report(x + step, step)
            if trial.should_prune():
                raise tl.TrialPruned()
        return x

    return objective


def _inject(client: Any, fault: str, rng: random.Random, stop: threading.Event) -> int:
    """Hit one or two random workers at random moments; return how many were hit."""
    hit = 0
    for _ in range(rng.choice((1, 2))):
        if stop.wait(rng.uniform(0.2, 1.0)):
            break
        pids = sorted(client.run(os.getpid).values())
        if not pids:
            continue
        pid = rng.choice(pids)
        try:
            if fault == "kill":
                os.kill(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGSTOP)
                time.sleep(4.0)
                os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            continue
        hit += 1
    return hit


def _try(
    client: Any, fault: str, rng: random.Random, folder: str, tally: Tally
) -> tuple[bool, str]:
    from tunelab.execution import DaskExecutor

    runs = Path(folder, uuid.uuid4().hex)
    runs.mkdir()
    url = f"sqlite:///{runs}.sqlite"
    study = tl.create_study(
        storage=url,
        sampler=tl.samplers.RandomSampler(seed=rng.randrange(2**31)),
        pruner=tl.pruners.ThresholdPruner(upper=3.5),
        heartbeat_interval=0.5,
        grace_period=2.0,
        retry_failed=1,
    )
    stop = threading.Event()
    hits: list[int] = []
    injector = threading.Thread(
        target=lambda: hits.append(_inject(client, fault, rng, stop)), daemon=True
    )
    injector.start()
    try:
        study.optimize(_objective(str(runs)), n_trials=_N_TRIALS, executor=DaskExecutor(client))
    except Exception as exc:
        return False, f"optimize raised {type(exc).__name__}: {exc}"
    finally:
        stop.set()
        injector.join()
    trials = tl.load_study(study_name=study.study_name, storage=url).trials
    started = [t for t in trials if t.state != TrialState.WAITING]
    if len(started) != _N_TRIALS:
        return False, f"{len(started)} trials started, not {_N_TRIALS}"
    if any(t.state == TrialState.RUNNING for t in trials):
        return False, "a trial is still RUNNING"
    failed = [t for t in trials if t.state == TrialState.FAIL]
    tally.extra["failed trials"] = int(tally.extra.get("failed trials", 0)) + len(failed)
    for trial in failed:
        reason = trial.fail_reason or ""
        if "Dask worker" not in reason and not reason.startswith("no heartbeat"):
            return False, f"trial {trial.number} failed for another reason: {reason}"
    if len(failed) > sum(hits):
        return False, f"{len(failed)} trials failed after {sum(hits)} faults"
    by_number = {t.number: t for t in trials}
    for trial in trials:
        original = trial.system_attrs.get("retry_of")
        ran = original is not None and trial.state != TrialState.WAITING
        if ran and trial.params != by_number[original].params:
            return False, f"retry {trial.number} has other parameters than {original}"
    counts: dict[str, int] = {}
    for run in runs.iterdir():
        number = run.name.split("-")[0]
        counts[number] = counts.get(number, 0) + 1
    twice = sorted(int(n) for n, c in counts.items() if c > 1)
    if twice:
        return False, f"the objective ran more than once for trials {twice}"
    return True, ""


def run(*, scale: float, seed: int) -> list[Tally]:
    """Tries of killed and frozen Dask workers (none when distributed is not installed)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return []
    rng = random.Random(seed)
    tallies = {fault: Tally(f"dask worker {fault}") for fault in ("kill", "freeze")}
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with (
        TemporaryDirectory() as folder,
        LocalCluster(
            n_workers=4,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            env=env,
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        for fault, tries in (("kill", 4), ("freeze", 2)):
            for _ in range(max(1, round(tries * scale))):
                client.wait_for_workers(4, timeout=60)
                ok, what = _try(client, fault, rng, folder, tallies[fault])
                tallies[fault].record(ok, what)
    return list(tallies.values())
