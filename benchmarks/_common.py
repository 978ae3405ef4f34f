"""Helpers shared by the benchmark scripts: the objective, machine facts, JSON and tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

Cell = str | float | int | None

# Keys of each per-N summary: wall-clock and CPU ms per trial, over all N trials and the last 10%.
SUMMARY_STATS = ("mean_ms", "last10_ms", "cpu_mean_ms", "cpu_last10_ms")


def objective(trial: Any) -> float:
    """A trivial objective over five parameters, one of each kind.

    It takes an Optuna or a tunelab trial (same ``suggest_*`` API), so both
    libraries pay for the same sampling and parameter writes; the arithmetic
    itself is negligible next to them.
    """
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 8)
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])
    dropout = trial.suggest_float("dropout", 0.0, 0.5, step=0.05)
    return x * x + lr + layers + dropout + (activation == "relu")


def add_repo_to_path() -> None:
    """Make ``tests.support`` importable when a script runs as ``python benchmarks/x.py``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: Sequence[str]) -> dict[str, Any]:
    """Where and when a benchmark ran: machine, Python and package versions, UTC date."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {name: _version(name) for name in packages},
    }


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``benchmarks/results/<name>`` and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def _text(cell: Cell) -> str:
    if cell is None:
        return "—"
    if isinstance(cell, float):
        return f"{cell:.3g}" if abs(cell) < 100 else f"{cell:,.0f}"
    return str(cell)


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, markdown: bool = False
) -> None:
    """Print a table on the terminal with rich, and as Markdown too if asked."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(_text(c) for c in row))
    # Pipes get 80 columns by default, which folds every cell of a wide table.
    Console(width=max(shutil.get_terminal_size().columns, 150)).print(table)
    if markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(columns) + " |")
        print("| --- " * len(columns) + "|")
        for row in rows:
            print("| " + " | ".join(_text(c) for c in row) + " |")
        print()


def stop_reason(
    trials_run: int, target: int, largest: int, time_box: float, cap: str
) -> str | None:
    """Why a run has fewer trials than the largest count asked for, if it has."""
    if trials_run < target:
        return f"time box {time_box:.0f} s after {trials_run:,} trials"
    if target < largest:
        return f"capped at {target:,} trials ({cap})"
    return None


def summarise_per_n(
    durations: Sequence[float], cpu: Sequence[float], counts: Sequence[int]
) -> dict[str, dict[str, float]]:
    """Mean ms/trial over the first N trials and over the last 10% of them, per N reached.

    The first mean is what a study of N trials costs per trial; the second,
    over trials 0.9·N to N, what one more trial costs once N are stored.
    Wall-clock and CPU time both: CPU time is what the process itself spent
    and barely moves when other programs load the machine.

    Args:
        durations: Wall-clock seconds of each trial, in order.
        cpu: This process's CPU seconds of each trial, in the same order.
        counts: The trial counts N to summarise; those not reached are left out.

    Returns:
        ``{str(N): {stat: ms}}`` with the keys of :data:`SUMMARY_STATS`.
    """
    out = {}
    for n in counts:
        if len(durations) < n:
            continue
        tail = max(1, n // 10)
        out[str(n)] = {
            "mean_ms": 1e3 * sum(durations[:n]) / n,
            "last10_ms": 1e3 * sum(durations[n - tail : n]) / tail,
            "cpu_mean_ms": 1e3 * sum(cpu[:n]) / n,
            "cpu_last10_ms": 1e3 * sum(cpu[n - tail : n]) / tail,
        }
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
