"""Milliseconds per ask+tell: tunelab beside Optuna, in memory and on durable storages.

Each configuration runs one study of the largest trial count with a random
sampler and a trivial five-parameter objective (suggestions included, the
objective's arithmetic negligible), stamping every trial. The figures for
smaller counts are the first N trials of that run, which is exactly what a
study of N trials would have cost. A short warm-up study of the same kind runs
first so that imports and one-off initialisation are not charged to it. The
configurations take turns, a block of 1% of the trials each, so that the load
of other programs on a shared machine falls on all of them alike.

Usage::

    python benchmarks/overhead.py                      # 100, 1,000 and 10,000 trials
    python benchmarks/overhead.py --quick              # 100 and 1,000
    python benchmarks/overhead.py --skip-slow-peers    # Optuna's SQLite only to 1,000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from _common import (
    SUMMARY_STATS,
    machine_info,
    objective,
    print_table,
    ratio,
    stop_reason,
    summarise_per_n,
    write_json,
)
from optuna.storages.journal import JournalFileBackend, JournalStorage

import tunelab as tl

WARMUP_TRIALS = 20
SLOW_PEER_CAP = 1_000
CURVE_POINTS = 100


@dataclass(frozen=True)
class Config:
    """One library on one storage kind."""

    key: str
    label: str
    make: Callable[[Path, int], Any]  # (empty folder, seed) -> a fresh study
    slow_peer: bool = False


def _tunelab(url: str | None) -> Callable[[Path, int], Any]:
    def make(folder: Path, seed: int) -> Any:
        storage = url.format(folder=folder) if url else None
        return tl.create_study(storage=storage, sampler=tl.samplers.RandomSampler(seed=seed))

    return make


def _optuna(kind: str) -> Callable[[Path, int], Any]:
    def make(folder: Path, seed: int) -> Any:
        storage: Any = None
        if kind == "sqlite":
            storage = optuna.storages.RDBStorage(f"sqlite:///{folder}/optuna.db")
        elif kind == "journal":
            storage = JournalStorage(JournalFileBackend(str(folder / "optuna.log")))
        sampler = optuna.samplers.RandomSampler(seed=seed)
        return optuna.create_study(storage=storage, sampler=sampler)

    return make


CONFIGS = [
    Config("tunelab-memory", "tunelab memory", _tunelab(None)),
    Config("tunelab-sqlite", "tunelab SQLite", _tunelab("sqlite:///{folder}/tunelab.db")),
    Config(
        "tunelab-sqlite-full",
        "tunelab SQLite, synchronous=FULL",
        _tunelab("sqlite:///{folder}/tunelab.db?synchronous=FULL"),
    ),
    Config("optuna-memory", "Optuna memory", _optuna("memory")),
    Config("optuna-sqlite", "Optuna SQLite (RDB)", _optuna("sqlite"), slow_peer=True),
    Config("optuna-journal", "Optuna journal file", _optuna("journal")),
]

# (peer, tunelab, bar): bar is the least speed-up tunelab should show, None when unset.
COMPARISONS = [
    ("optuna-memory", "tunelab-memory", 3.0),
    ("optuna-sqlite", "tunelab-sqlite", 30.0),
    ("optuna-sqlite", "tunelab-sqlite-full", None),
    ("optuna-journal", "tunelab-sqlite", None),
]


@dataclass
class Run:
    """One configuration's timed study, advanced a block of trials at a time."""

    config: Config
    study: Any
    target: int
    time_box: float
    durations: list[float] = field(default_factory=list)  # wall-clock seconds per trial
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds per trial
    elapsed: float = 0.0

    @property
    def finished(self) -> bool:
        return len(self.durations) >= self.target or self.elapsed > self.time_box

    def advance(self, n_trials: int) -> None:
        """Run up to ``n_trials`` more ask+objective+tell rounds, stamping each."""
        last, last_cpu = time.perf_counter(), time.process_time()
        for _ in range(min(n_trials, self.target - len(self.durations))):
            trial = self.study.ask()
            self.study.tell(trial, objective(trial))
            now, now_cpu = time.perf_counter(), time.process_time()
            self.durations.append(now - last)
            self.cpu.append(now_cpu - last_cpu)
            self.elapsed += now - last
            last, last_cpu = now, now_cpu
            if self.elapsed > self.time_box:
                return


def warm_up(config: Config, folder: Path, seed: int) -> None:
    """A few trials on a throwaway study: imports and one-off set-up are not charged."""
    run = Run(config, config.make(folder, seed), WARMUP_TRIALS, time_box=float("inf"))
    run.advance(WARMUP_TRIALS)


def run_interleaved(
    configs: Sequence[Config], counts: Sequence[int], *, cap: int | None, time_box: float, seed: int
) -> list[dict[str, Any]]:
    """Time every configuration, taking turns a block of trials each.

    Taking turns spreads the load of other programs on a shared machine over
    all configurations alike, so their ratios stay meaningful.
    """
    block = max(1, max(counts) // CURVE_POINTS)
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-") as root:
        runs = []
        for config in configs:
            warm, timed = Path(root, config.key, "warmup"), Path(root, config.key, "timed")
            warm.mkdir(parents=True)
            timed.mkdir()
            warm_up(config, warm, seed)
            target = min(max(counts), cap) if cap and config.slow_peer else max(counts)
            runs.append(Run(config, config.make(timed, seed), target, time_box))
        while not all(run.finished for run in runs):
            for run in runs:
                if not run.finished:
                    run.advance(block)
        return [_result(run, counts) for run in runs]


def _result(run: Run, counts: Sequence[int]) -> dict[str, Any]:
    n = len(run.durations)
    stopped = stop_reason(n, run.target, max(counts), run.time_box, "--skip-slow-peers")
    return {
        "key": run.config.key,
        "label": run.config.label,
        "trials_run": n,
        "total_s": run.elapsed,
        "stopped": stopped,
        "reached": summarise_per_n(run.durations, run.cpu, [n]).get(str(n)),
        "by_n": summarise_per_n(run.durations, run.cpu, counts),
        "curve": curve(run.durations),
        "cpu_curve": curve(run.cpu),
    }


def curve(durations: Sequence[float]) -> dict[str, Any]:
    """Mean ms/trial in consecutive blocks, to show how the cost grows with history."""
    block = max(1, len(durations) // CURVE_POINTS)
    points = [
        round(1e3 * sum(durations[i : i + block]) / len(durations[i : i + block]), 4)
        for i in range(0, len(durations), block)
    ]
    return {"block_trials": block, "mean_ms": points}


def median_runs(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per N, the median over repeats of each statistic (N reached by every repeat only)."""
    shared = set.intersection(*(set(r["by_n"]) for r in runs))
    return {
        n: {stat: statistics.median(r["by_n"][n][stat] for r in runs) for stat in SUMMARY_STATS}
        for n in sorted(shared, key=int)
    }


def _cells(
    summary: dict[str, dict[str, float]], counts: Sequence[int], *, cpu: bool
) -> list[float | None]:
    keys = ("cpu_mean_ms", "cpu_last10_ms") if cpu else ("mean_ms", "last10_ms")
    cells: list[float | None] = []
    for n in counts:
        row = summary.get(str(n))
        cells += [row[k] for k in keys] if row else [None, None]
    return cells


def report(results: dict[str, Any], counts: Sequence[int], *, markdown: bool) -> None:
    """Print ms/trial and optuna/tunelab ratios, by wall-clock and by CPU time."""
    header = [f"{n:,} {stat}" for n in counts for stat in ("mean", "last 10%")]
    for cpu, clock in ((False, "wall-clock"), (True, "CPU")):
        rows = [
            [r["label"], *_cells(r["median"], counts, cpu=cpu), _note(r["runs"][0], cpu=cpu)]
            for r in results.values()
        ]
        print_table(
            f"{clock} ms per ask+tell (lower is better)",
            ["configuration", *header, "note"],
            rows,
            markdown=markdown,
        )
    for cpu, clock in ((False, "wall-clock"), (True, "CPU")):
        print_table(
            f"speed-up of tunelab by {clock} time (peer ms / tunelab ms, higher is better)",
            ["comparison", *header, "bar", "met"],
            _ratio_rows(results, counts, cpu=cpu),
            markdown=markdown,
        )


def _note(run: dict[str, Any], *, cpu: bool) -> str:
    """Why a run stopped short and, after a time box, its figures over the trials it ran."""
    if run["stopped"] is None:
        return ""
    if not run["stopped"].startswith("time box"):
        return str(run["stopped"])
    prefix = "cpu_" if cpu else ""
    reached = run["reached"]
    return (
        f"{run['stopped']}: mean {reached[prefix + 'mean_ms']:.3g}, "
        f"last 10% {reached[prefix + 'last10_ms']:.3g} ms"
    )


def _ratio_rows(results: dict[str, Any], counts: Sequence[int], *, cpu: bool) -> list[list[Any]]:
    rows = []
    for peer, ours, bar in COMPARISONS:
        if peer not in results or ours not in results:
            continue
        cells = [
            ratio(p, o)
            for p, o in zip(
                _cells(results[peer]["median"], counts, cpu=cpu),
                _cells(results[ours]["median"], counts, cpu=cpu),
                strict=True,
            )
        ]
        verdict = "" if bar is None else _verdict(cells, bar)
        label = f"{results[peer]['label']} / {results[ours]['label']}"
        rows.append([label, *cells, f">= {bar:g}x" if bar else "—", verdict])
    return rows


def _verdict(cells: Sequence[float | None], bar: float) -> str:
    known = [c for c in cells if c is not None]
    if not known:
        return "?"
    return "yes" if min(known) >= bar else "no"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--quick", action="store_true", help="only 100 and 1,000 trials")
    parser.add_argument(
        "--skip-slow-peers",
        action="store_true",
        help=f"run Optuna's SQLite storage to {SLOW_PEER_CAP:,} trials at most",
    )
    parser.add_argument(
        "--time-box",
        type=float,
        default=900.0,
        help="seconds of timed trials per configuration (default 900)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration")
    parser.add_argument("--only", nargs="+", choices=[c.key for c in CONFIGS], help="configs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument(
        "--output", default="overhead.json", help="JSON file, relative to benchmarks/results"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = [100, 1_000]
    if any(n < 1 for n in args.trials):
        parser.error(f"--trials must be positive integers, got {args.trials}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    args.trials = sorted(set(args.trials))
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configs = [c for c in CONFIGS if not args.only or c.key in args.only]
    cap = SLOW_PEER_CAP if args.skip_slow_peers else None
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in configs}
    for repeat in range(args.repeats):
        print(f"run {repeat + 1}/{args.repeats}: {', '.join(c.label for c in configs)}", flush=True)
        for result in run_interleaved(
            configs, args.trials, cap=cap, time_box=args.time_box, seed=args.seed
        ):
            runs[result["key"]].append(result)
    results = {
        c.key: {"label": c.label, "median": median_runs(runs[c.key]), "runs": runs[c.key]}
        for c in configs
    }
    report(results, args.trials, markdown=args.markdown)
    path = write_json(
        args.output,
        {
            "benchmark": "overhead",
            "machine": machine_info(["tunelab", "optuna", "sqlalchemy", "numpy"]),
            "settings": {
                "trials": args.trials,
                "warmup_trials": WARMUP_TRIALS,
                "time_box_s": args.time_box,
                "repeats": args.repeats,
                "skip_slow_peers": args.skip_slow_peers,
                "seed": args.seed,
                "sampler": "random",
                "objective": "5 params: float, log float, int, categorical, stepped float",
            },
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
