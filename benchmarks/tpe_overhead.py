"""Milliseconds per ask+tell of TPE as history grows: tunelab beside Optuna, in memory.

Each configuration runs one in-memory study of the largest trial count on the
shared trivial five-parameter objective (float, log float, int, categorical,
stepped float), timing every trial. The figure at N trials is reported two
ways: the mean over the first N trials (what a study of N trials costs per
trial) and the mean over trials 0.9 N to N (what one more trial costs once N
are stored). Optuna's TPE grows quadratically, so it stops at ``--peer-cap``
trials unless told otherwise. A RandomSampler row shows tunelab's own
ask/tell cost, which every sampler pays.

Usage::

    python benchmarks/tpe_overhead.py                  # 100, 1,000, 2,000 and 10,000 trials
    python benchmarks/tpe_overhead.py --quick          # 100 and 1,000
    python benchmarks/tpe_overhead.py --peer-cap 10000 # Optuna to 10,000 too (slow)
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from _common import machine_info, objective, print_table, ratio, write_json

import tunelab as tl
from tunelab.samplers import RandomSampler
from tunelab.samplers._tpe import TPESampler

WARMUP_TRIALS = 30
DEFAULT_PEER_CAP = 2_000


@dataclass(frozen=True)
class Config:
    """One sampler of one library."""

    key: str
    label: str
    make: Callable[[int], Any]  # seed -> a fresh in-memory study
    peer: bool = False


def _tunelab(sampler: Callable[[int], Any]) -> Callable[[int], Any]:
    return lambda seed: tl.create_study(sampler=sampler(seed))


def _optuna(**options: Any) -> Callable[[int], Any]:
    def make(seed: int) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate/group are "experimental"
            sampler = optuna.samplers.TPESampler(seed=seed, **options)
        return optuna.create_study(sampler=sampler)

    return make


CONFIGS = [
    Config(
        "tunelab-tpe", "tunelab TPE (multivariate, group)", _tunelab(lambda s: TPESampler(seed=s))
    ),
    Config(
        "tunelab-tpe-uni",
        "tunelab TPE (univariate)",
        _tunelab(lambda s: TPESampler(seed=s, multivariate=False)),
    ),
    Config("tunelab-random", "tunelab RandomSampler", _tunelab(lambda s: RandomSampler(seed=s))),
    Config(
        "optuna-tpe-mv",
        "Optuna TPE (multivariate=True)",
        _optuna(multivariate=True),
        peer=True,
    ),
    Config("optuna-tpe", "Optuna TPE (default)", _optuna(), peer=True),
]

# (peer, tunelab): speed-up rows of the ratio table. Optuna's default TPE is
# multivariate (not grouped) for one objective, so both compare with tunelab's default.
COMPARISONS = [("optuna-tpe-mv", "tunelab-tpe"), ("optuna-tpe", "tunelab-tpe")]


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def time_trials(study: Any, n_trials: int, time_box: float, clock: str) -> list[float]:
    """Seconds taken by each ask+objective+tell, stopping early after ``time_box`` seconds.

    ``clock`` is "wall" (what a user waits) or "cpu" (this process's CPU time,
    steadier on a shared machine).
    """
    tick = CLOCKS[clock]
    durations: list[float] = []
    start = time.perf_counter()
    last = tick()
    for _ in range(n_trials):
        trial = study.ask()
        study.tell(trial, objective(trial))
        now = tick()
        durations.append(now - last)
        last = now
        if time.perf_counter() - start > time_box:
            break
    return durations


def summarise(durations: Sequence[float], counts: Sequence[int]) -> dict[str, dict[str, float]]:
    """Per N reached: mean ms over the first N trials and over the last tenth of them."""
    out = {}
    for n in counts:
        if len(durations) < n:
            continue
        tail = max(1, n // 10)
        out[str(n)] = {
            "mean_ms": 1e3 * sum(durations[:n]) / n,
            "at_n_ms": 1e3 * sum(durations[n - tail : n]) / tail,
        }
    return out


def run_config(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then time one study of the most trials asked (fewer for capped peers)."""
    counts = args.trials
    target = min(max(counts), args.peer_cap) if config.peer else max(counts)
    time_trials(config.make(args.seed), WARMUP_TRIALS, args.time_box, args.clock)
    durations = time_trials(config.make(args.seed), target, args.time_box, args.clock)
    note = ""
    if len(durations) < target:
        note = f"time box {args.time_box:.0f} s after {len(durations):,} trials"
    elif target < max(counts):
        note = f"capped at {target:,} trials (--peer-cap)"
    return {
        "key": config.key,
        "label": config.label,
        "trials_run": len(durations),
        "total_s": sum(durations),
        "note": note,
        "by_n": summarise(durations, counts),
    }


def _cells(by_n: dict[str, dict[str, float]], counts: Sequence[int]) -> list[float | None]:
    cells: list[float | None] = []
    for n in counts:
        row = by_n.get(str(n))
        cells += [row["mean_ms"], row["at_n_ms"]] if row else [None, None]
    return cells


def report(
    results: dict[str, dict[str, Any]], counts: Sequence[int], clock: str, markdown: bool
) -> None:
    """Print the ms/trial table and the Optuna/tunelab ratio table."""
    header = [f"{n:,} {stat}" for n in counts for stat in ("mean", "at N")]
    rows = [[r["label"], *_cells(r["by_n"], counts), r["note"]] for r in results.values()]
    print_table(
        f"TPE: ms per ask+tell, {clock} clock (lower is better)",
        ["sampler", *header, "note"],
        rows,
        markdown=markdown,
    )
    ratio_rows = []
    for peer, ours in COMPARISONS:
        if peer in results and ours in results:
            cells = [
                ratio(p, o)
                for p, o in zip(
                    _cells(results[peer]["by_n"], counts),
                    _cells(results[ours]["by_n"], counts),
                    strict=True,
                )
            ]
            ratio_rows.append([f"{results[peer]['label']} / {results[ours]['label']}", *cells])
    print_table(
        "speed-up of tunelab (peer ms / tunelab ms)",
        ["comparison", *header],
        ratio_rows,
        markdown=markdown,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 1_000, 2_000, 10_000])
    parser.add_argument("--quick", action="store_true", help="only 100 and 1,000 trials")
    parser.add_argument(
        "--peer-cap", type=int, default=DEFAULT_PEER_CAP, help="most trials for Optuna's samplers"
    )
    parser.add_argument("--time-box", type=float, default=900.0, help="seconds per configuration")
    parser.add_argument("--only", nargs="+", choices=[c.key for c in CONFIGS])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time or this process's CPU time",
    )
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument("--output", default="tpe_overhead.json", help="file in benchmarks/results")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = [100, 1_000]
    if any(n < 1 for n in args.trials) or args.peer_cap < 1:
        parser.error("--trials and --peer-cap must be positive integers")
    args.trials = sorted(set(args.trials))
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, dict[str, Any]] = {}
    for config in CONFIGS:
        if args.only and config.key not in args.only:
            continue
        print(f"{config.label} ...", flush=True)
        results[config.key] = run_config(config, args)
    report(results, args.trials, args.clock, args.markdown)
    path = write_json(
        args.output,
        {
            "benchmark": "tpe_overhead",
            "machine": machine_info(["tunelab", "optuna", "numpy", "scipy"]),
            "settings": {
                "trials": args.trials,
                "warmup_trials": WARMUP_TRIALS,
                "peer_cap": args.peer_cap,
                "time_box_s": args.time_box,
                "seed": args.seed,
                "clock": args.clock,
                "storage": "memory",
                "objective": "5 params: float, log float, int, categorical, stepped float",
            },
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
