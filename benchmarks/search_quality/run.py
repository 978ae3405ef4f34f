"""Run the search-quality benchmark and print / save its tables.

Usage::

    python -m benchmarks.search_quality.run                       # default set
    python -m benchmarks.search_quality.run --quick               # a smoke run
    python -m benchmarks.search_quality.run --problems branin mixed --seeds 10 \\
        --samplers tunelab:tpe optuna:tpe hyperopt:tpe tunelab:random
    python -m benchmarks.search_quality.run --reuse old.json --rerun tunelab:auto  # resume
    python -m benchmarks.search_quality.run --problems synthetic --samplers hebo:default smac:hpo

The peers HEBO (``hebo:default``) and SMAC3 (``smac:hpo``) run in their own virtual
environments (``HEBO_VENV``, ``SMAC_VENV``; ``bash benchmarks/search_quality/peers_setup.sh``
creates them) through ``peer_driver.py``; a peer whose environment is missing is
skipped with a message saying how to create it.

Runs are written to ``--out`` as they finish, so an interrupted run can be resumed
with ``--reuse`` on its own output: a (problem, sampler, seed) run found in a reused
file with the same rounds and batch is not run again, unless its sampler is named
by ``--rerun`` (e.g. a tunelab sampler that changed since).

Each (problem, sampler, seed) run follows Bayesmark's protocol (rounds x batch
suggestions). Reported per problem: median regret of the best value found after
25%, 50% and 100% of the budget; Bayesmark's normalised score (100 = best value
known, 0 = median random result after the first batch); mean rank across problems.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.search_quality import cache, drivers  # noqa: E402
from benchmarks.search_quality.drivers import (  # noqa: E402
    LIBRARIES,
    PEER_THREADS,
    PEER_VENVS,
    peer_missing,
)
from benchmarks.search_quality.problems import HOLDOUT, PROBLEMS, REAL, SYNTHETIC  # noqa: E402

DEFAULT_SAMPLERS = [
    "tunelab:random",
    "tunelab:qmc",
    "tunelab:tpe",
    "tunelab:gp",
    "tunelab:cmaes",
    "tunelab:auto",
    "optuna:tpe",
    "optuna:gp",
    "optuna:cmaes",
    "hyperopt:tpe",
]
RANDOM = "tunelab:random"


def _one(job: tuple[str, str, int, int, int]) -> dict[str, Any]:
    problem_name, sampler, rounds, batch, seed = job
    library, name = sampler.split(":")
    result = LIBRARIES[library](name, PROBLEMS[problem_name], rounds, batch, seed)
    run = {
        "problem": problem_name,
        "sampler": sampler,
        "seed": seed,
        "values": result.values,
        "overhead_ms": 1000 * result.overhead_s,
    } | ({} if result.cpu_s is None else {"cpu_ms": 1000 * result.cpu_s})
    if library in PEER_VENVS:
        run |= {
            "peer_version": drivers._CLIENTS[library].version,
            "threads": os.environ.get(PEER_THREADS),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    return run


def _available(samplers: list[str]) -> list[str]:
    """Drop tunelab samplers this checkout lacks and peers whose environment is missing."""
    import tunelab.samplers as ts

    names = {"tpe": "TPESampler", "gp": "GPSampler", "cmaes": "CmaEsSampler", "auto": "AutoSampler"}
    keep = []
    for sampler in samplers:
        library, name = sampler.split(":")
        if library == "tunelab" and name in names and not hasattr(ts, names[name]):
            print(f"skipping {sampler}: not implemented in this checkout", file=sys.stderr)
            continue
        if library in PEER_VENVS and (reason := peer_missing(library)):
            print(f"skipping {sampler}: {reason}", file=sys.stderr)
            continue
        keep.append(sampler)
    return keep


def summarise(runs: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Regret, normalised score and rank tables from raw runs."""
    problems = sorted({r["problem"] for r in runs})
    samplers = sorted({r["sampler"] for r in runs})
    table: dict[str, dict[str, Any]] = {}
    for problem in problems:
        mine = [r for r in runs if r["problem"] == problem]
        best_known = min(min(r["values"]) for r in mine)
        if PROBLEMS[problem].optimum is not None:
            best_known = min(best_known, PROBLEMS[problem].optimum)
        random_first = [min(r["values"][:batch]) for r in mine if r["sampler"] == RANDOM]
        baseline = float(np.median(random_first)) if random_first else None
        table[problem] = {}
        for sampler in samplers:
            curves = [np.minimum.accumulate(r["values"]) for r in mine if r["sampler"] == sampler]
            if not curves:
                continue
            n = len(curves[0])
            at = {
                f"regret@{q}%": float(np.median([c[max(0, n * q // 100 - 1)] for c in curves]))
                - best_known
                for q in (25, 50, 100)
            }
            final = float(np.median([c[-1] for c in curves]))
            score = None
            if baseline is not None and baseline > best_known:
                score = 100 * (baseline - final) / (baseline - best_known)
            own = [r for r in mine if r["sampler"] == sampler]
            overhead = float(np.median([r["overhead_ms"] for r in own]))
            cpu = [r["cpu_ms"] for r in own if "cpu_ms" in r]
            table[problem][sampler] = {
                **at,
                "score": score,
                "overhead_ms": overhead,
                "cpu_ms": float(np.median(cpu)) if cpu else None,
                "seeds": len(own),
            }
    ranks: dict[str, list[float]] = {s: [] for s in samplers}
    for row in table.values():
        finals = sorted(row.items(), key=lambda kv: kv[1]["regret@100%"])
        values = [v["regret@100%"] for _, v in finals]
        for sampler, entry in finals:
            ranks[sampler].append(
                1 + float(np.mean([i for i, v in enumerate(values) if v == entry["regret@100%"]]))
            )
    overall = {
        s: {
            "mean_rank": float(np.mean(ranks[s])) if ranks[s] else None,
            "mean_score": _mean([table[p][s]["score"] for p in problems if s in table[p]]),
        }
        for s in samplers
    }
    return {"problems": table, "overall": overall}


def _mean(values: list[float | None]) -> float | None:
    real = [v for v in values if v is not None]
    return float(np.mean(real)) if real else None


def print_tables(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    overall = summary["overall"]
    order = sorted(overall, key=lambda s: overall[s]["mean_rank"] or 1e9)
    head = Table(title="Overall (lower rank is better; score 100 = best known)")
    head.add_column("sampler")
    head.add_column("mean rank", justify="right")
    head.add_column("mean normalised score", justify="right")
    for s in order:
        score = overall[s]["mean_score"]
        head.add_row(s, f"{overall[s]['mean_rank']:.2f}", "-" if score is None else f"{score:.1f}")
    console.print(head)
    for problem, row in summary["problems"].items():
        t = Table(title=f"{problem}: median regret and score")
        for col in ("sampler", "regret@25%", "regret@50%", "regret@100%", "score", "ms/trial"):
            t.add_column(col, justify="left" if col == "sampler" else "right")
        for s in order:
            if s not in row:
                continue
            e = row[s]
            t.add_row(
                s,
                f"{e['regret@25%']:.4g}",
                f"{e['regret@50%']:.4g}",
                f"{e['regret@100%']:.4g}",
                "-" if e["score"] is None else f"{e['score']:.1f}",
                f"{e['overhead_ms']:.1f}",
            )
        console.print(t)


def markdown_tables(summary: dict[str, Any]) -> str:
    """The overall ranking and per-problem scores, regrets and sampler costs as Markdown."""
    overall = summary["overall"]
    order = sorted(overall, key=lambda s: overall[s]["mean_rank"] or 1e9)
    problems = sorted(summary["problems"])
    lines = ["| sampler | mean rank | mean normalised score |", "| --- | --- | --- |"]
    for s in order:
        score = overall[s]["mean_score"]
        shown = "-" if score is None else f"{score:.1f}"
        lines.append(f"| {s} | {overall[s]['mean_rank']:.2f} | {shown} |")
    tables = (
        ("score", "{:.1f}", "Normalised score per problem:"),
        ("regret@100%", "{:.4g}", "Median final regret (best found minus best known):"),
        ("overhead_ms", "{:.1f}", "Median sampler time per trial (ms, wall clock):"),
        ("cpu_ms", "{:.1f}", "Median peer driver CPU time per trial (ms):"),
        ("seeds", "{:d}", "Seeds (runs) per problem:"),
    )
    for key, fmt, caption in tables:
        if not any(
            e.get(key) is not None for row in summary["problems"].values() for e in row.values()
        ):
            continue
        lines += ["", caption, "", f"| sampler | {' | '.join(problems)} |"]
        lines.append("| --- " * (len(problems) + 1) + "|")
        for s in order:
            cells = []
            for problem in problems:
                value = summary["problems"][problem].get(s, {}).get(key)
                cells.append("-" if value is None else fmt.format(value))
            lines.append(f"| {s} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--problems", nargs="*", default=None, help="names, 'synthetic', 'real' or 'holdout'"
    )
    parser.add_argument("--samplers", nargs="*", default=DEFAULT_SAMPLERS)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="3 seeds, 6 rounds, 2 problems")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/search_quality.json"))
    parser.add_argument("--reuse", nargs="*", default=[], help="earlier output files to reuse")
    parser.add_argument("--rerun", nargs="*", default=[], help="samplers never reused")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument(
        "--cache",
        default=str(ROOT / "benchmarks/results/search_quality_peers.jsonl"),
        help="JSON-lines file of peer runs: reused when their key matches, appended to",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write --cache")
    parser.add_argument(
        "--peer-threads",
        type=int,
        default=1,
        help="BLAS/PyTorch threads of each peer driver (0: the libraries' own default)",
    )
    parser.add_argument(
        "--summarise", nargs="+", metavar="FILE", help="only print the tables of FILEs, merged"
    )
    parser.add_argument(
        "--common",
        action="store_true",
        help="with --summarise: only the problems and seeds that every sampler ran",
    )
    args = parser.parse_args(argv)
    if args.summarise:
        data = [_load_runs(Path(file)) for file in args.summarise]
        # Later files win, and a run found in several files (a reused one) counts once.
        unique = {(r["problem"], r["sampler"], r["seed"]): r for d in data for r in d["runs"]}
        runs = list(unique.values())
        if args.problems:
            keep = set(_problem_names(args.problems))
            runs = [r for r in runs if r["problem"] in keep]
        if args.common:
            runs = _common(runs)
        summary = summarise(runs, data[0]["settings"]["batch"])
        print_tables(summary)
        print(markdown_tables(summary))
        return
    if args.quick:
        args.seeds, args.rounds = 3, 6
        args.problems = args.problems or ["branin", "mixed"]
    names = _problem_names(args.problems or [p.name for p in SYNTHETIC + REAL])
    if args.peer_threads:
        # Inherited by the peer drivers the worker processes start.
        os.environ[PEER_THREADS] = str(args.peer_threads)
    samplers = _available(args.samplers)
    if RANDOM not in samplers:
        samplers.append(RANDOM)
    # Seed by seed, so an interrupted run leaves every problem with about as many seeds.
    jobs = [
        (p, s, args.rounds, args.batch, seed)
        for seed in range(args.seeds)
        for s in samplers
        for p in names
    ]
    wanted = {(p, s, seed) for p, s, _, _, seed in jobs}
    cache_path = None if args.no_cache else Path(args.cache)
    cached = (
        [] if cache_path is None else cache.current(cache.load(cache_path), args.rounds, args.batch)
    )
    reused = [
        r
        for r in _reusable(args.reuse, args.rounds, args.batch, set(args.rerun)) + cached
        if (r["problem"], r["sampler"], r["seed"]) in wanted and r["sampler"] not in args.rerun
    ]
    reused = list({(r["problem"], r["sampler"], r["seed"]): r for r in reused}.values())
    done = {(r["problem"], r["sampler"], r["seed"]) for r in reused}
    jobs = [j for j in jobs if (j[0], j[1], j[4]) not in done]
    print(f"{len(reused)} runs reused, {len(jobs)} to run", file=sys.stderr)
    start = time.time()
    out = Path(args.out)
    settings = vars(args) | {"samplers": samplers, "problems": names}
    runs = list(reused)
    with ProcessPoolExecutor(args.workers) as pool:
        for i, run in enumerate(pool.map(_one, jobs, chunksize=1), start=1):
            runs.append(run)
            if cache_path is not None and run["sampler"].split(":")[0] in PEER_VENVS:
                cache.append(cache_path, run, args.rounds, args.batch)
            done_at = f"{time.time() - start:.0f} s"
            print(
                f"{i}/{len(jobs)} {run['problem']} {run['sampler']} seed {run['seed']} {done_at}",
                file=sys.stderr,
            )
            _write(out, settings, start, None, runs)
    summary = summarise(runs, args.batch)
    print_tables(summary)
    if args.markdown:
        print(markdown_tables(summary))
    _write(out, settings, start, summary, runs)
    print(f"wrote {out} in {time.time() - start:.0f} s")


def _problem_names(names: list[str]) -> list[str]:
    """Problem names, with "synthetic", "real" and "holdout" standing for their sets."""
    sets = {"synthetic": SYNTHETIC, "real": REAL, "holdout": HOLDOUT}
    expanded: list[str] = []
    for name in names:
        expanded += [p.name for p in sets[name]] if name in sets else [name]
    return expanded


def _common(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs of the (problem, seed) pairs that every sampler ran: a like-for-like subset."""
    samplers = {r["sampler"] for r in runs}
    ran: dict[tuple[str, int], set[str]] = {}
    for r in runs:
        ran.setdefault((r["problem"], r["seed"]), set()).add(r["sampler"])
    return [r for r in runs if ran[(r["problem"], r["seed"])] == samplers]


def _load_runs(path: Path) -> dict[str, Any]:
    """An output file, or a peer cache (``.jsonl``) read as one with its batch size."""
    if path.suffix != ".jsonl":
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    records = cache.load(path)
    batches = {r["batch"] for r in records}
    if len(batches) > 1:
        raise SystemExit(f"{path} mixes batch sizes {sorted(batches)}: summarise one at a time")
    return {"settings": {"batch": batches.pop() if batches else 8}, "runs": records}


def _reusable(files: list[str], rounds: int, batch: int, rerun: set[str]) -> list[dict[str, Any]]:
    """Runs from earlier output files made with the same protocol, minus ``rerun`` samplers."""
    runs: list[dict[str, Any]] = []
    for file in files:
        data = json.loads(Path(file).read_text())
        same = data["settings"]["rounds"] == rounds and data["settings"]["batch"] == batch
        if not same:
            print(f"not reusing {file}: other rounds or batch size", file=sys.stderr)
            continue
        runs.extend(r for r in data["runs"] if r["sampler"] not in rerun)
    unique = {(r["problem"], r["sampler"], r["seed"]): r for r in runs}
    return list(unique.values())


def _write(
    out: Path,
    settings: dict[str, Any],
    start: float,
    summary: dict[str, Any] | None,
    runs: list[dict[str, Any]],
) -> None:
    """Save the runs so far (and the summary once complete) to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "settings": settings,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "wall_s": time.time() - start,
        "summary": summary,
        "runs": runs,
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(out)


if __name__ == "__main__":
    main()
