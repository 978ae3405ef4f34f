"""Milliseconds per ask+tell of each sampler as the history grows: tunelab beside its peers.

Two sections, each a set of in-memory studies that take turns on one process.

TPE: the shared trivial five-parameter objective (float, log float, int,
categorical, stepped float) with tunelab's TPESampler (default options), its
default sampler (AutoSampler: QMC, then a GP, then TPE), its RandomSampler
(the floor: the ask/tell machinery every sampler pays), Optuna's
TPESampler by default and multivariate with groups, and hyperopt's TPE through
``fmin`` with a ``Trials`` object. The peers' cost grows quadratically, so they
stop at a cap (Optuna 2,000 trials, hyperopt 3,000; ``--peer-cap`` sets both).

GP: Hartmann-6 (six floats; a GP takes no categorical the way TPE does) with
tunelab's GPSampler beside Optuna's, plus tunelab's CmaEsSampler and
AutoSampler. Everything runs on one thread: ``OMP_NUM_THREADS=1`` before torch
loads, ``torch.set_num_threads(1)`` and BLAS limited to one thread, as tunelab's
GP does by itself.

Each configuration runs one study of its largest trial count and stamps every
trial, objective included (its arithmetic is negligible). The figure at N is
the mean over the first N trials (what a study of N trials costs per trial)
and over trials 0.9·N to N (what one more trial costs once N are stored), by
wall clock and by this process's CPU time. A short warm-up study of each
configuration runs first, so imports and one-off set-up are not charged. The
configurations of a section take turns, a block of 1% of the trials each, so
the load of other programs falls on all of them alike. Hyperopt's ``fmin``
resumes on the same ``Trials`` each block: a trial runs from the previous
objective's return to its own, the block's set-up going to its first trial
and the final bookkeeping to its last.

Usage::

    python benchmarks/sampler_overhead.py --markdown     # TPE to 10,000; GP to 300
    python benchmarks/sampler_overhead.py --quick        # TPE to 1,000; GP to 100
    python benchmarks/sampler_overhead.py --only tunelab-tpe optuna-tpe --trials 100 2000
    python benchmarks/sampler_overhead.py --only tunelab-default --trials 10000 100000 \
        --time-box 1800                                 # the default sampler to 10^5 trials
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import optuna
from _common import (
    add_repo_to_path,
    machine_info,
    objective,
    print_table,
    ratio,
    stop_reason,
    summarise_per_n,
    write_json,
)

import tunelab as tl
from tunelab import samplers

BLOCKS = 100  # turns per section: each configuration runs 1% of its trials a turn
WARMUP = {"tpe": 30, "gp": 20}  # past every sampler's start-up trials
OBJECTIVES = {
    "tpe": "5 params: float, log float, int, categorical, stepped float (benchmarks/_common.py)",
    "gp": "Hartmann-6: 6 floats in [0, 1], minimum -3.32237",
}
VERSIONS = ["tunelab", "optuna", "hyperopt", "numpy", "scipy", "torch", "cmaes"]


class Driver(Protocol):
    """Runs trials of one study, appending each trial's cost to ``out``."""

    def advance(self, n_trials: int, out: Timings) -> None: ...


@dataclass
class Timings:
    """Each trial's wall-clock and CPU seconds and objective value, in trial order."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float, value: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.values.append(value)


@dataclass
class AskTell:
    """A tunelab or Optuna study, one ask+objective+tell per trial."""

    study: Any
    objective: Callable[[Any], float]

    def advance(self, n_trials: int, out: Timings) -> None:
        last, last_cpu = time.perf_counter(), time.process_time()
        for _ in range(n_trials):
            trial = self.study.ask()
            value = self.objective(trial)
            self.study.tell(trial, value)
            now, now_cpu = time.perf_counter(), time.process_time()
            out.add(now - last, now_cpu - last_cpu, value)
            last, last_cpu = now, now_cpu


class Hyperopt:
    """Hyperopt's TPE on the five-parameter objective, ``fmin`` resumed on one ``Trials``."""

    def __init__(self, seed: int) -> None:
        from hyperopt import Trials, hp

        self.trials = Trials()
        self.rng = np.random.default_rng(seed)
        self.space = {
            "x": hp.uniform("x", -10.0, 10.0),
            "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
            "layers": hp.uniformint("layers", 1, 8),
            "activation": hp.choice("activation", ["relu", "tanh", "gelu"]),
            "dropout": hp.quniform("dropout", 0.0, 0.5, 0.05),
        }

    def advance(self, n_trials: int, out: Timings) -> None:
        from hyperopt import STATUS_OK, fmin, tpe

        stamps: list[tuple[float, float, float]] = []

        def loss(p: dict[str, Any]) -> dict[str, Any]:
            value = p["x"] ** 2 + p["lr"] + int(p["layers"]) + p["dropout"]
            value += p["activation"] == "relu"
            stamps.append((time.perf_counter(), time.process_time(), value))
            return {"loss": value, "status": STATUS_OK}

        last, last_cpu = time.perf_counter(), time.process_time()
        fmin(
            loss,
            self.space,
            algo=tpe.suggest,
            max_evals=len(self.trials) + n_trials,
            trials=self.trials,
            rstate=self.rng,
            show_progressbar=False,
        )
        end, end_cpu = time.perf_counter(), time.process_time()
        for i, (now, now_cpu, value) in enumerate(stamps):
            if i == len(stamps) - 1:
                now, now_cpu = end, end_cpu
            out.add(now - last, now_cpu - last_cpu, value)
            last, last_cpu = now, now_cpu


def _hartmann6() -> Callable[[Any], float]:
    add_repo_to_path()
    from benchmarks.search_quality.drivers import suggest
    from benchmarks.search_quality.problems import PROBLEMS

    problem = PROBLEMS["hartmann6"]
    return lambda trial: problem(suggest(trial, problem.space))


@dataclass(frozen=True)
class Config:
    """One sampler of one library, in one section."""

    key: str
    label: str
    section: str
    make: Callable[[int], Driver]  # seed -> a fresh study
    cap: int | None = None  # default most trials for a peer whose cost grows quadratically


def _objective(section: str) -> Callable[[Any], float]:
    return objective if section == "tpe" else _hartmann6()


def _tunelab(section: str, sampler: Callable[[int], Any]) -> Callable[[int], Driver]:
    return lambda seed: AskTell(tl.create_study(sampler=sampler(seed)), _objective(section))


def _optuna(section: str, sampler: Callable[[int], Any]) -> Callable[[int], Driver]:
    return lambda seed: AskTell(optuna.create_study(sampler=sampler(seed)), _objective(section))


CONFIGS = [
    Config(
        "tunelab-tpe", "tunelab TPE", "tpe", _tunelab("tpe", lambda s: samplers.TPESampler(seed=s))
    ),
    Config(
        "tunelab-default",
        "tunelab default (AutoSampler)",
        "tpe",
        _tunelab("tpe", lambda s: samplers.AutoSampler(seed=s)),
    ),
    Config(
        "tunelab-random",
        "tunelab random (floor)",
        "tpe",
        _tunelab("tpe", lambda s: samplers.RandomSampler(seed=s)),
    ),
    Config(
        "optuna-tpe",
        "Optuna TPE (default)",
        "tpe",
        _optuna("tpe", lambda s: optuna.samplers.TPESampler(seed=s)),
        cap=2_000,
    ),
    Config(
        "optuna-tpe-group",
        "Optuna TPE (multivariate, group)",
        "tpe",
        _optuna("tpe", lambda s: optuna.samplers.TPESampler(seed=s, multivariate=True, group=True)),
        cap=2_000,
    ),
    Config("hyperopt-tpe", "hyperopt TPE", "tpe", Hyperopt, cap=3_000),
    Config("tunelab-gp", "tunelab GP", "gp", _tunelab("gp", lambda s: samplers.GPSampler(seed=s))),
    Config(
        "optuna-gp", "Optuna GP", "gp", _optuna("gp", lambda s: optuna.samplers.GPSampler(seed=s))
    ),
    Config(
        "tunelab-cmaes",
        "tunelab CMA-ES",
        "gp",
        _tunelab("gp", lambda s: samplers.CmaEsSampler(seed=s)),
    ),
    Config(
        "tunelab-auto", "tunelab Auto", "gp", _tunelab("gp", lambda s: samplers.AutoSampler(seed=s))
    ),
]

# (peer, tunelab): rows of the speed-up table.
COMPARISONS = [
    ("optuna-tpe", "tunelab-tpe"),
    ("optuna-tpe-group", "tunelab-tpe"),
    ("hyperopt-tpe", "tunelab-tpe"),
    ("optuna-gp", "tunelab-gp"),
]
# (configuration, trials, ms): the bars on the cost of one more trial at that count.
BARS = [
    ("tunelab-tpe", 1_000, 2.0),
    ("tunelab-tpe", 10_000, 10.0),
    ("tunelab-gp", 300, 100.0),
    # 10^5 trials of the default sampler in 10 minutes: 6 ms a trial at the end bounds it.
    ("tunelab-default", 100_000, 6.0),
]


@dataclass
class Run:
    """One configuration's timed study, advanced a block of trials at a time."""

    config: Config
    driver: Driver
    target: int
    time_box: float
    timings: Timings = field(default_factory=Timings)

    @property
    def finished(self) -> bool:
        return len(self.timings.wall) >= self.target or sum(self.timings.wall) > self.time_box

    def advance(self, n_trials: int) -> None:
        self.driver.advance(min(n_trials, self.target - len(self.timings.wall)), self.timings)


def run_section(
    configs: Sequence[Config], counts: Sequence[int], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Warm every configuration up, then time them all, taking turns a block each."""
    section = configs[0].section
    runs = []
    for config in configs:
        print(f"  warming up {config.label}", flush=True)
        config.make(args.seed).advance(WARMUP[section], Timings())
        target = min(max(counts), _cap(config, args.peer_cap) or max(counts))
        runs.append(Run(config, config.make(args.seed), target, args.time_box))
    block = max(1, max(counts) // BLOCKS)
    while not all(run.finished for run in runs):
        for run in runs:
            if not run.finished:
                run.advance(block)
    summary_counts = sorted({*counts, *(r.target for r in runs)})
    return {run.config.key: _result(run, counts, summary_counts, args) for run in runs}


def _cap(config: Config, peer_cap: int | None) -> int | None:
    return None if config.cap is None else peer_cap or config.cap


def _result(
    run: Run, counts: Sequence[int], summary_counts: Sequence[int], args: argparse.Namespace
) -> dict[str, Any]:
    timings = run.timings
    n = len(timings.wall)
    stopped = stop_reason(n, run.target, max(counts), args.time_box, "--peer-cap")
    return {
        "label": run.config.label,
        "cap": _cap(run.config, args.peer_cap),
        "trials_run": n,
        "total_s": sum(timings.wall),
        "cpu_total_s": sum(timings.cpu),
        "stopped": stopped,
        "reached": summarise_per_n(timings.wall, timings.cpu, [n]).get(str(n)),
        "by_n": summarise_per_n(timings.wall, timings.cpu, summary_counts),
        "best_by_n": {str(k): min(timings.values[:k]) for k in summary_counts if k <= n},
    }


def pin_threads(with_torch: bool) -> dict[str, Any]:
    """One thread for BLAS, OpenMP and torch, as tunelab's GP limits its own BLAS."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    settings: dict[str, Any] = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "blas": 1}
    if with_torch:
        import torch

        torch.set_num_threads(1)
        settings["torch_threads"] = torch.get_num_threads()
    return settings


def _pair(row: dict[str, float] | None, wall: str, cpu: str) -> str | None:
    return None if row is None else f"{row[wall]:.3g} / {row[cpu]:.3g}"


def report_section(
    title: str, results: dict[str, dict[str, Any]], counts: Sequence[int], *, markdown: bool
) -> None:
    """Print the section's ms/trial tables (one more trial at N, and mean over N)."""
    header = [f"{n:,}" for n in counts]
    for wall, cpu, what in (
        ("last10_ms", "cpu_last10_ms", "one more trial at N (mean over trials 0.9·N..N)"),
        ("mean_ms", "cpu_mean_ms", "mean over the first N trials"),
    ):
        rows = [
            [r["label"], *(_pair(r["by_n"].get(str(n)), wall, cpu) for n in counts), r["stopped"]]
            for r in results.values()
        ]
        print_table(
            f"{title}: ms per ask+tell, {what}, wall / CPU (lower is better)",
            ["sampler", *header, "note"],
            rows,
            markdown=markdown,
        )


def report_quality(results: dict[str, dict[str, Any]], counts: Sequence[int], md: bool) -> None:
    """Best Hartmann-6 value each GP-section study found (one seed: a sanity check only)."""
    rows = [[r["label"], *(r["best_by_n"].get(str(n)) for n in counts)] for r in results.values()]
    print_table(
        "GP section: best Hartmann-6 value after N trials (one seed; optimum -3.32237)",
        ["sampler", *(f"{n:,}" for n in counts)],
        rows,
        markdown=md,
    )


def report_comparisons(results: dict[str, dict[str, Any]], counts: Sequence[int], md: bool) -> None:
    """Peer ms / tunelab ms for one more trial at each N both reached, wall / CPU."""
    rows = []
    for peer, ours in COMPARISONS:
        if peer in results and ours in results:
            cells = []
            for n in counts:
                p, o = results[peer]["by_n"].get(str(n)), results[ours]["by_n"].get(str(n))
                cells.append(None if p is None or o is None else _ratios(p, o))
            rows.append([f"{results[peer]['label']} / {results[ours]['label']}", *cells])
    print_table(
        "speed-up of tunelab, one more trial at N (peer ms / tunelab ms, wall / CPU)",
        ["comparison", *(f"{n:,}" for n in counts)],
        rows,
        markdown=md,
    )


def _ratios(peer: dict[str, float], ours: dict[str, float]) -> str:
    cells = [ratio(peer[k], ours[k]) for k in ("last10_ms", "cpu_last10_ms")]
    return " / ".join("—" if c is None else f"{c:.3g}x" for c in cells)


def check_bars(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's bars, judged on one more trial at N by wall clock and by CPU time."""
    verdicts = []
    for key, n, limit in BARS:
        row = results.get(key, {}).get("by_n", {}).get(str(n))
        if row is None:
            continue
        verdicts.append(
            {
                "config": key,
                "trials": n,
                "bar_ms": limit,
                "wall_ms": row["last10_ms"],
                "cpu_ms": row["cpu_last10_ms"],
                "met_wall": row["last10_ms"] < limit,
                "met_cpu": row["cpu_last10_ms"] < limit,
            }
        )
    return verdicts


def report_bars(verdicts: Sequence[dict[str, Any]], md: bool) -> None:
    """Print whether each bar reached by this run is met."""
    if not verdicts:
        return
    rows = [
        [
            f"{v['config']} at {v['trials']:,} trials",
            f"< {v['bar_ms']:g}",
            v["wall_ms"],
            v["cpu_ms"],
            "yes" if v["met_wall"] else "no",
            "yes" if v["met_cpu"] else "no",
        ]
        for v in verdicts
    ]
    print_table(
        "bars: ms for one more trial at N",
        ["bar", "ms", "wall ms", "CPU ms", "met (wall)", "met (CPU)"],
        rows,
        markdown=md,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--gp-trials", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--quick", action="store_true", help="TPE to 1,000 trials, GP to 100")
    parser.add_argument(
        "--peer-cap",
        type=int,
        help="most trials for Optuna's and hyperopt's TPE (default 2,000 and 3,000)",
    )
    parser.add_argument("--time-box", type=float, default=600.0, help="timed seconds per config")
    parser.add_argument("--only", nargs="+", choices=[c.key for c in CONFIGS], help="configs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument(
        "--output",
        default="sampler_overhead.json",
        help="JSON file, relative to benchmarks/results",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.gp_trials = [100, 1_000], [100]
    if any(n < 1 for n in [*args.trials, *args.gp_trials]):
        parser.error(
            f"--trials and --gp-trials must be positive, got {args.trials} {args.gp_trials}"
        )
    if args.peer_cap is not None and args.peer_cap < 1:
        parser.error(f"--peer-cap must be a positive integer, got {args.peer_cap}")
    args.trials, args.gp_trials = sorted(set(args.trials)), sorted(set(args.gp_trials))
    return args


def section(
    key: str, configs: Sequence[Config], counts: Sequence[int], args: argparse.Namespace
) -> dict[str, Any]:
    """Run one section, print its tables and return its part of the JSON."""
    title = f"{key.upper()} section"
    print(f"{title}: {', '.join(c.label for c in configs)}", flush=True)
    load_before = os.getloadavg()
    results = run_section(configs, counts, args)
    load_after = os.getloadavg()
    caps = {r["cap"] for r in results.values() if r["cap"] and r["cap"] < max(counts)}
    shown = sorted({*counts, *caps})
    report_section(title, results, shown, markdown=args.markdown)
    report_comparisons(results, shown, args.markdown)
    if key == "gp":
        report_quality(results, counts, args.markdown)
    return {
        "objective": OBJECTIVES[key],
        "trials": list(counts),
        "warmup_trials": WARMUP[key],
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "results": results,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # torch reads it once, when it loads: in the GP section, after this line.
    os.environ["OMP_NUM_THREADS"] = "1"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    machine = machine_info(VERSIONS)
    configs = [c for c in CONFIGS if not args.only or c.key in args.only]
    tpe = [c for c in configs if c.section == "tpe"]
    gp = [c for c in configs if c.section == "gp"]
    sections: dict[str, Any] = {}
    if tpe:
        sections["tpe"] = section("tpe", tpe, args.trials, args)
    threads = None
    if gp:
        threads = pin_threads(with_torch=any(c.key == "optuna-gp" for c in gp))
        sections["gp"] = section("gp", gp, args.gp_trials, args)
    bars = check_bars({k: r for s in sections.values() for k, r in s["results"].items()})
    report_bars(bars, args.markdown)
    path = write_json(
        args.output,
        {
            "benchmark": "sampler_overhead",
            "machine": machine,
            "load_average_after": list(os.getloadavg()),
            "settings": {
                "peer_cap": args.peer_cap,
                "default_peer_caps": {c.key: c.cap for c in CONFIGS if c.cap},
                "time_box_s": args.time_box,
                "seed": args.seed,
                "storage": "memory",
                "turns": BLOCKS,
                "threads_gp_section": threads,
            },
            "sections": sections,
            "bars": bars,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
