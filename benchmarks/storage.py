"""Trials per second with one and several processes sharing a study on one database.

For each library (tunelab, Optuna's RDBStorage) and database kind (a SQLite
file, a real PostgreSQL server; Optuna's JournalFileBackend beside them), a
fresh database gets one study; W worker processes each open it, wait at a
common barrier, then run an ask/tell loop of a fixed number of trials with a
trivial five-parameter objective. Throughput is all finished trials over the
time from the first worker's start to the last one's end. Afterwards the study
is read back to check that no trial was lost or duplicated: as many trials as
asked for, numbers exactly 0..N-1, all COMPLETE with their five parameters.

Usage::

    python benchmarks/storage.py                           # 1 and 4 workers
    python benchmarks/storage.py --workers 1 2 4 --trials-per-worker 300
    python benchmarks/storage.py --databases sqlite         # no PostgreSQL server
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from _common import add_repo_to_path, machine_info, objective, print_table, ratio, write_json
from optuna.storages.journal import JournalFileBackend, JournalStorage

import tunelab as tl

N_PARAMS = 5
BARRIER_TIMEOUT_S = 300.0
DATABASES = ("sqlite", "postgresql", "journal")


@dataclass(frozen=True)
class Setup:
    """One library on one kind of database with a number of worker processes."""

    library: str  # "tunelab" or "optuna"
    database: str  # one of DATABASES
    workers: int

    @property
    def name(self) -> str:
        return f"{self.library}_{self.database}_w{self.workers}"


def _open_study(library: str, location: str, study_name: str, *, create: bool, seed: int) -> Any:
    """Create or load the study in ``location`` (a database URL, or a journal file path)."""
    if library == "tunelab":
        sampler = tl.samplers.RandomSampler(seed=seed)
        if create:
            return tl.create_study(study_name=study_name, storage=location, sampler=sampler)
        return tl.load_study(study_name=study_name, storage=location, sampler=sampler)
    storage: Any
    if location.startswith(("sqlite", "postgresql")):
        # pysqlite's 5 s lock timeout fails busy writers; tunelab waits 60 s, so Optuna may too.
        connect = {"timeout": 60} if location.startswith("sqlite") else {}
        storage = optuna.storages.RDBStorage(location, engine_kwargs={"connect_args": connect})
    else:
        storage = JournalStorage(JournalFileBackend(location))
    o_sampler = optuna.samplers.RandomSampler(seed=seed)
    if create:
        return optuna.create_study(study_name=study_name, storage=storage, sampler=o_sampler)
    return optuna.load_study(study_name=study_name, storage=storage, sampler=o_sampler)


def _worker(
    library: str,
    location: str,
    study_name: str,
    n_trials: int,
    seed: int,
    barrier: Any,
    results: Any,
) -> None:
    """One process: open the study, wait for the others, run ``n_trials`` ask/tell rounds."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = _open_study(library, location, study_name, create=False, seed=seed)
    except BaseException:
        barrier.abort()  # release the other workers instead of leaving them at the barrier
        raise
    barrier.wait(BARRIER_TIMEOUT_S)
    start = time.time()
    errors: list[str] = []
    for _ in range(n_trials):
        try:
            trial = study.ask()
            study.tell(trial, objective(trial))
        except Exception as exc:  # counted and reported: a lost trial is a result here
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
    results.put({"seed": seed, "start": start, "end": time.time(), "errors": errors})


def check_trials(library: str, location: str, study_name: str, expected: int) -> dict[str, Any]:
    """Whether the study holds exactly ``expected`` complete trials numbered 0..expected-1."""
    study = _open_study(library, location, study_name, create=False, seed=0)
    trials = study.get_trials(deepcopy=False) if library == "optuna" else study.trials
    numbers = sorted(t.number for t in trials)
    ids = {t._trial_id if library == "optuna" else t.trial_id for t in trials}
    complete = sum(t.state.name == "COMPLETE" for t in trials)
    with_params = sum(len(t.params) == N_PARAMS for t in trials)
    problems = []
    if len(trials) != expected:
        problems.append(f"{len(trials)} trials, expected {expected}")
    if numbers != list(range(len(numbers))) or len(set(numbers)) != len(numbers):
        problems.append("numbers not exactly 0..N-1")
    if len(ids) != len(trials):
        problems.append("duplicate trial ids")
    if complete != len(trials):
        problems.append(f"{len(trials) - complete} not COMPLETE")
    if with_params != len(trials):
        problems.append(f"{len(trials) - with_params} without {N_PARAMS} params")
    return {
        "ok": not problems,
        "problems": problems,
        "count": len(trials),
        "expected": expected,
        "unique_numbers": len(set(numbers)),
        "complete": complete,
    }


def run_setup(setup: Setup, location: str, trials_per_worker: int) -> dict[str, Any]:
    """Create the study, run the workers on it, time them and check the stored trials."""
    study_name = f"bench-{setup.name}"
    _open_study(setup.library, location, study_name, create=True, seed=0)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(setup.workers)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(setup.library, location, study_name, trials_per_worker, seed, barrier, results),
        )
        for seed in range(setup.workers)
    ]
    for proc in procs:
        proc.start()
    reports = _collect(procs, results)
    window = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    expected = setup.workers * trials_per_worker
    errors = [e for r in reports for e in r["errors"]]
    finished = expected - len(errors)
    return {
        "library": setup.library,
        "database": setup.database,
        "workers": setup.workers,
        "trials_expected": expected,
        "seconds": window,
        "trials_per_s": finished / window if window > 0 else None,
        "errors": len(errors),
        "first_errors": errors[:5],
        "check": check_trials(setup.library, location, study_name, expected),
    }


def _collect(procs: Sequence[Any], results: Any) -> list[dict[str, Any]]:
    """Each worker's report; fail loudly instead of waiting for a worker that died."""
    reports: list[dict[str, Any]] = []
    while len(reports) < len(procs):
        try:
            reports.append(results.get(timeout=5.0))
        except queue.Empty:
            if all(not p.is_alive() for p in procs) and results.empty():
                codes = [p.exitcode for p in procs]
                raise RuntimeError(
                    f"a worker died without reporting (exit codes {codes})"
                ) from None
    for proc in procs:
        proc.join()
    return reports


@contextmanager
def databases(kinds: Sequence[str], folder: Path) -> Iterator[dict[str, Any]]:
    """Per database kind, a function giving a fresh, empty database for a setup's run."""
    with ExitStack() as stack:
        makers: dict[str, Any] = {}
        if "sqlite" in kinds:
            makers["sqlite"] = lambda setup, run: f"sqlite:///{folder / setup.name}_{run}.db"
        if "journal" in kinds:
            makers["journal"] = lambda setup, run: str(folder / f"{setup.name}_{run}.log")
        if "postgresql" in kinds:
            add_repo_to_path()
            from tests.support.postgres import postgres_server

            server = stack.enter_context(postgres_server())
            makers["postgresql"] = lambda setup, run: _fresh_pg_database(
                server, f"{setup.name}_{run}"
            )
        yield makers


def _fresh_pg_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server (one per setup, so no history carries over)."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    url = sa.engine.make_url(server_url).set(database=name)
    return str(url.render_as_string(hide_password=False))


def setups(kinds: Sequence[str], workers: Sequence[int]) -> list[Setup]:
    """Every (library, database, workers) to run; the journal is Optuna's alone."""
    out = []
    for database in kinds:
        libraries = ["optuna"] if database == "journal" else ["tunelab", "optuna"]
        out += [Setup(lib, database, w) for lib in libraries for w in workers]
    return out


def summarise(setup: Setup, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median throughput over repeats; the check passes only if it passed every time."""
    speeds = [r["trials_per_s"] for r in runs if r["trials_per_s"] is not None]
    problems = sorted({p for r in runs for p in r["check"]["problems"]})
    return {
        "library": setup.library,
        "database": setup.database,
        "workers": setup.workers,
        "trials": runs[0]["trials_expected"],
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "trials_per_s_median": statistics.median(speeds) if speeds else None,
        "errors": sum(r["errors"] for r in runs),
        "check_ok": not problems,
        "check_problems": problems,
        "runs": list(runs),
    }


def report(rows: Sequence[dict[str, Any]], *, markdown: bool) -> None:
    """Print the throughput table and the tunelab/Optuna ratio table."""
    table = [
        [
            r["library"],
            r["database"],
            r["workers"],
            r["trials"],
            r["seconds_median"],
            r["trials_per_s_median"],
            r["errors"],
            "ok" if r["check_ok"] else "; ".join(r["check_problems"]),
        ]
        for r in rows
    ]
    columns = ["library", "database", "workers", "trials", "seconds", "trials/s", "errors"]
    print_table(
        "throughput on a shared study (higher is better)",
        [*columns, "no trial lost or duplicated"],
        table,
        markdown=markdown,
    )
    speed = {(r["library"], r["database"], r["workers"]): r["trials_per_s_median"] for r in rows}
    ratios = [
        [database, workers, ratio(value, speed.get(("optuna", database, workers)))]
        for (library, database, workers), value in speed.items()
        if library == "tunelab"
    ]
    print_table(
        "tunelab trials/s / Optuna RDBStorage trials/s",
        ["database", "workers", "ratio"],
        ratios,
        markdown=markdown,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--trials-per-worker", type=int, default=200)
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=list(DATABASES))
    parser.add_argument("--repeats", type=int, default=1, help="runs per setup (median kept)")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument(
        "--output", default="storage.json", help="JSON file, relative to benchmarks/results"
    )
    args = parser.parse_args(argv)
    if any(w < 1 for w in args.workers):
        parser.error(f"--workers must be positive integers, got {args.workers}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.trials_per_worker < 1:
        parser.error(f"--trials-per-worker must be >= 1, got {args.trials_per_worker}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="tunelab-bench-") as root,
        databases(args.databases, Path(root)) as fresh,
    ):
        for setup in setups(args.databases, args.workers):
            runs = []
            for repeat in range(args.repeats):
                print(
                    f"{setup.library} on {setup.database}, {setup.workers} worker(s), "
                    f"run {repeat + 1}/{args.repeats} ...",
                    flush=True,
                )
                location = fresh[setup.database](setup, repeat)
                runs.append(run_setup(setup, location, args.trials_per_worker))
            rows.append(summarise(setup, runs))
    report(rows, markdown=args.markdown)
    path = write_json(
        args.output,
        {
            "benchmark": "storage",
            "machine": machine_info(["tunelab", "optuna", "sqlalchemy", "psycopg"]),
            "settings": {
                "workers": args.workers,
                "trials_per_worker": args.trials_per_worker,
                "repeats": args.repeats,
                "databases": args.databases,
                "sampler": "random",
                "loop": "ask/tell per worker process (spawned)",
                "objective": "5 params: float, log float, int, categorical, stepped float",
            },
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
