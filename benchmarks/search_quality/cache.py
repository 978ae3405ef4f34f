"""A cache of peer runs (HEBO, SMAC3) that grows across runs and sessions.

A peer costs seconds of CPU per suggestion, so its 10 seeds of every problem take hours
on a small machine. Each finished (problem, sampler, seed) run is appended as one JSON
line to a committed file; a later run only computes the runs the file lacks, and the
tables combine them with fresh runs of the other samplers.

A record is reused only when its key matches: problem, sampler, seed, budget (rounds and
batch) and the problem's code version (:func:`problem_version`). The peer's package
version and the threads it ran with are stored beside the values, not in the key: the
environments pin the versions, and threads change the cost, not the search.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.search_quality.problems import PROBLEMS, Problem

Key = tuple[str, str, int, int, int, str]


def problem_version(problem: Problem) -> str:
    """A short hash of what defines ``problem``: its space, optimum and objective's code.

    The objective's code is its source plus, for a closure, the values it closes over
    (their source when they are functions), so a Bayesmark problem's model builder
    counts too. Helpers called by name from the objective are not followed.
    """
    parts = [problem.name, json.dumps(problem.space, sort_keys=True), repr(problem.optimum)]
    parts.append(_source(problem.func))
    for cell in problem.func.__closure__ or ():
        value = cell.cell_contents
        parts.append(_source(value) if callable(value) else repr(value))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _source(func: Any) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return repr(func)


def key(record: dict[str, Any]) -> Key:
    """The cache key of a record."""
    return (
        record["problem"],
        record["sampler"],
        int(record["seed"]),
        int(record["rounds"]),
        int(record["batch"]),
        record["problem_version"],
    )


def load(path: Path) -> list[dict[str, Any]]:
    """Every record of the cache file (none when it does not exist); later lines win."""
    if not path.exists():
        return []
    records: dict[Key, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            # A run killed mid-write leaves a torn last line: skip it, keep the rest.
            print(f"{path}:{number}: skipping unreadable line ({error})")
            continue
        records[key(record)] = record
    return list(records.values())


def current(records: Iterable[dict[str, Any]], rounds: int, batch: int) -> list[dict[str, Any]]:
    """The records made with this budget on problems whose code has not changed since."""
    versions = {name: problem_version(problem) for name, problem in PROBLEMS.items()}
    return [
        r
        for r in records
        if r["rounds"] == rounds
        and r["batch"] == batch
        and versions.get(r["problem"]) == r["problem_version"]
    ]


def append(path: Path, run: dict[str, Any], rounds: int, batch: int, **extra: Any) -> None:
    """Add one finished run to the cache file, flushed at once."""
    record = run | {
        "rounds": rounds,
        "batch": batch,
        "problem_version": problem_version(PROBLEMS[run["problem"]]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.write(json.dumps(record | extra, separators=(",", ":")) + "\n")
        file.flush()
