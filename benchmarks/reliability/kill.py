"""kill -9 of worker processes and of the process running optimize, at random moments.

Two kinds of try, on SQLite and (when its binaries are installed) PostgreSQL:

- **worker**: a study of 24 short trials in two worker processes, while up to
  three running workers are killed at random moments. Clean when every trial
  is stored, nothing stays RUNNING, only killed workers' trials failed (each
  with the reason that its worker died) and no worker process outlives the run.
- **parent**: a study runs in a child process that is killed at a random
  moment (sometimes before its workers are up). Clean when every process it
  started is gone within 5 seconds, and once its heartbeat grace has passed,
  opening the study shows no RUNNING trial and every trial that had finished
  before the kill unchanged.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy as sa

import tunelab as tl
from benchmarks.reliability._family import Tally
from tests.faults import procs
from tests.faults._study_proc import STUDY, steps
from tests.support.postgres import find_pg_bin, postgres_server
from tunelab.storage import get_storage
from tunelab.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
_MARK = "TUNELAB_KILL_BENCH"  # inherited by every process a killed parent started
_GRACE = 3.0  # the child study's grace period (tests/faults/_study_proc.py)


@contextmanager
def _databases(kind: str) -> Iterator[Callable[[], str]]:
    """Yield a maker of empty database URLs of ``kind``."""
    if kind == "sqlite":
        with TemporaryDirectory() as folder:
            yield lambda: f"sqlite:///{Path(folder) / f'{uuid.uuid4().hex}.sqlite'}"
        return
    with postgres_server() as server:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")

        def make() -> str:
            name = f"k{uuid.uuid4().hex[:12]}"
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            return server.rsplit("/", 1)[0] + f"/{name}"

        try:
            yield make
        finally:
            engine.dispose()


def _worker_try(url: str, rng: random.Random) -> tuple[bool, str, int]:
    study = tl.create_study(storage=url, sampler=tl.samplers.RandomSampler(seed=rng.randrange(99)))
    watcher = get_storage(url)
    study_id = watcher.get_study_id_from_name(study.study_name)
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and len(killed) < 3:
            time.sleep(rng.uniform(0.05, 0.6))
            running = watcher.get_all_trials(study_id, states=(TrialState.RUNNING,))
            pids = [t.user_attrs["pid"] for t in running if "pid" in t.user_attrs]
            pid = rng.choice(pids) if pids else None
            if pid is not None and procs.kill(pid):
                killed.append(pid)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        study.optimize(steps, n_trials=24, n_jobs=2, backend="process")
    except Exception as exc:
        return False, f"optimize raised {type(exc).__name__}: {exc}", len(killed)
    finally:
        done.set()
        thread.join()
    trials = study.trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    orphans = _workers_left()
    problems = []
    if len(trials) != 24 or study.get_trials(states=(TrialState.RUNNING,)):
        problems.append(f"{len(trials)} trials, states {[t.state.name for t in trials]}")
    if len(failed) > len(killed):
        problems.append(f"{len(failed)} trials failed for {len(killed)} kills")
    if any("worker process running the trial died" not in (t.fail_reason or "") for t in failed):
        problems.append(f"fail reasons {[t.fail_reason for t in failed]}")
    if orphans:
        problems.append(f"worker processes left: {orphans}")
    return not problems, "; ".join(problems), len(killed)


def _workers_left() -> list[int]:
    """Workers still running: children of this process's fork server (it outlives a study)."""
    left = []
    for pid in procs.descendants(os.getpid()):
        try:
            forkserver = b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if forkserver:
            left += procs.descendants(pid)
    return left


def _marked(token: str) -> list[int]:
    """Running processes started with this token in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if f"{_MARK}={token}".encode() in environ.split(b"\0") and procs.alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _parent_try(url: str, rng: random.Random) -> tuple[bool, str]:
    token = uuid.uuid4().hex
    env = {**os.environ, _MARK: token, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults._study_proc", "steps", url, "400"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "started":
        child.kill()
        child.wait()
        return False, "the study did not start"
    time.sleep(rng.uniform(0.0, 4.0))
    storage = get_storage(url)
    before = {t.number: t for t in storage.get_all_trials(storage.get_study_id_from_name(STUDY))}
    child.kill()
    child.wait()
    left = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        left = _marked(token)
        if not left:
            break
        time.sleep(0.1)
    for pid in left:  # end them so the next try starts clean; the try is already bad
        procs.kill(pid)
    time.sleep(_GRACE + 0.5)
    after = {t.number: t for t in tl.load_study(study_name=STUDY, storage=url).trials}
    problems = []
    if left:
        problems.append(f"{len(left)} processes outlived their parent by 5 s")
    running = [n for n, t in after.items() if t.state == TrialState.RUNNING]
    if running:
        problems.append(f"trials {running} still RUNNING after the grace period")
    lost = [
        n
        for n, t in before.items()
        if t.state.is_finished() and (after[n].state, after[n].values) != (t.state, t.values)
    ]
    if lost:
        problems.append(f"finished trials {lost} changed")
    storage.close()
    return not problems, "; ".join(problems)


def run(*, scale: float, seed: int) -> list[Tally]:
    """Kill workers and parents at random moments; one tally per kind and storage."""
    rng = random.Random(seed)
    kinds = ["sqlite"] + (["postgres"] if find_pg_bin() is not None else [])
    tallies = []
    for kind in kinds:
        workers = Tally(f"kill -9 worker ({kind})")
        parents = Tally(f"kill -9 parent ({kind})")
        kills = 0
        with _databases(kind) as make_url:
            for _ in range(max(1, round(5 * scale))):
                ok, what, n = _worker_try(make_url(), rng)
                kills += n
                workers.record(ok, what)
            for _ in range(max(1, round(4 * scale))):
                ok, what = _parent_try(make_url(), rng)
                parents.record(ok, what)
        workers.extra["workers_killed"] = kills
        tallies += [workers, parents]
    return tallies
