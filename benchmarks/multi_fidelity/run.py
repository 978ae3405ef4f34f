"""Run the multi-fidelity benchmark and print / save its tables.

Usage::

    PYTHONPATH=src:. python -m benchmarks.multi_fidelity                 # full run
    PYTHONPATH=src:. python -m benchmarks.multi_fidelity --quick         # smoke run
    PYTHONPATH=src:. python -m benchmarks.multi_fidelity --tasks lcdb/41161 --seeds 5

Protocol, per task and seed: full-budget TPE (tunelab, no pruning) runs a fixed
number of trials; the median over seeds of its total simulated compute is the
task's budget C. Every other method then searches until it has spent C. Regret
= best final value among the trials a search completed by then, minus the best
final value in the table. Reported per task: median regret at 10/25/50/100 % of
C; the compute each method needs for its median regret to reach full-budget TPE's
final median regret (as a fraction of C); and, at equal compute, tunelab's
default setup against Optuna's best pairing on that task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS_DIR, Cell, machine_info, print_table
from benchmarks.multi_fidelity import methods, tasks
from benchmarks.multi_fidelity.methods import BY_NAME, METHODS, REFERENCE

# Compute fractions at which median regret curves are kept: log-spaced, plus the
# report points.
REPORT_AT = (0.1, 0.25, 0.5, 1.0)
GRID = np.unique(np.concatenate([np.geomspace(0.005, 1.0, 121), REPORT_AT]))
DEFAULT = "tunelab:default"
OPTUNA_PAIRINGS = ("optuna:tpe+median", "optuna:tpe+sha", "optuna:tpe+hyperband")
BAR_FRACTION = 0.25

_dehb: methods.DehbClient | None = None


def _one(job: tuple[str, str, int, float, int]) -> dict[str, Any]:
    """Run one (task, method, seed) search in a worker process."""
    global _dehb
    task_name, method_name, seed, budget, max_trials = job
    task = tasks.load(task_name)
    method = BY_NAME[method_name]
    start = time.process_time()
    if method.library == "dehb":
        if _dehb is None:
            _dehb = methods.DehbClient()
        run, info = _dehb.run(task, seed, budget, max_trials), {"dehb": _dehb.version}
    elif method.library == "tunelab":
        run, info = methods.run_tunelab(
            method.sampler, method.pruner, task, seed, budget, max_trials
        )
    else:
        run, info = methods.run_optuna(
            method.sampler, method.pruner, task, seed, budget, max_trials
        )
    return {
        "task": task_name,
        "method": method_name,
        "seed": seed,
        "finish_cost": run.finish_cost,
        "finish_value": run.finish_value,
        "spent": run.spent,
        "trials": run.trials,
        "pruned": run.pruned,
        "info": info,
        "cpu_s": time.process_time() - start,
    }


def regret_on_grid(run: dict[str, Any], optimum: float, budget: float) -> np.ndarray:
    """Best completed regret by each compute fraction of :data:`GRID` (inf before any)."""
    costs = np.asarray(run["finish_cost"], float)
    best = np.minimum.accumulate(np.asarray(run["finish_value"], float)) - optimum
    index = np.searchsorted(costs, GRID * budget * (1 + 1e-12), side="right") - 1
    return np.where(index >= 0, best[np.maximum(index, 0)] if len(best) else np.inf, np.inf)


def _median(values: np.ndarray) -> np.ndarray:
    # A median with more than half the seeds still at inf (nothing completed) is inf.
    return np.median(values, axis=0)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def summarise(runs: list[dict[str, Any]], budgets: dict[str, float]) -> dict[str, Any]:
    """Per-task regret tables, compute to target and the equal-compute comparison."""
    summary: dict[str, Any] = {}
    for task_name, budget in budgets.items():
        task = tasks.load(task_name)
        mine = [r for r in runs if r["task"] == task_name]
        reference = [r for r in mine if r["method"] == REFERENCE]
        target = float(np.median([min(r["finish_value"]) - task.optimum for r in reference]))
        rows: dict[str, Any] = {}
        for name in dict.fromkeys(r["method"] for r in mine):
            own = [r for r in mine if r["method"] == name]
            curve = _median(np.stack([regret_on_grid(r, task.optimum, budget) for r in own]))
            reached = np.flatnonzero(curve <= target + 1e-12)
            rows[name] = {
                "regret_at": {
                    f"{f:g}": _finite(curve[np.searchsorted(GRID, f)]) for f in REPORT_AT
                },
                "compute_to_target": float(GRID[reached[0]]) if len(reached) else None,
                "median_trials": float(np.median([r["trials"] for r in own])),
                "median_pruned": float(np.median([r["pruned"] for r in own])),
                "median_curve": [_finite(v) for v in curve],
                "seeds": len(own),
                "info": own[0]["info"],
            }
        summary[task_name] = {
            "budget_s": budget,
            "optimum": task.optimum,
            "configs": int(task.values.shape[0]),
            "steps": list(task.steps),
            "target_regret": target,
            "methods": rows,
            "versus": _versus(rows),
        }
    return summary


def _versus(rows: dict[str, Any]) -> dict[str, Any] | None:
    """tunelab's default against the best Optuna pairing, at each report point."""
    pairings = [p for p in OPTUNA_PAIRINGS if p in rows]
    if DEFAULT not in rows or not pairings:
        return None

    def key(name: str) -> tuple[float, float]:
        at = rows[name]["regret_at"]
        final = at["1"] if at["1"] is not None else np.inf
        area = float(np.mean([v if v is not None else 1e9 for v in rows[name]["median_curve"]]))
        return final, area

    best = min(pairings, key=key)
    out: dict[str, Any] = {"optuna_best": best, "at": {}}
    for f in REPORT_AT:
        ours = rows[DEFAULT]["regret_at"][f"{f:g}"]
        theirs = rows[best]["regret_at"][f"{f:g}"]
        ours_v = np.inf if ours is None else ours
        theirs_v = np.inf if theirs is None else theirs
        outcome = "win" if ours_v < theirs_v else "loss" if ours_v > theirs_v else "tie"
        out["at"][f"{f:g}"] = outcome
    return out


def bar_status(summary: dict[str, Any]) -> dict[str, Any]:
    """The issue's bar: default reaches TPE's final median regret with <= 25 % of its
    compute, and beats Optuna's best pairing at equal compute on most tasks."""
    reach = {t: s["methods"].get(DEFAULT, {}).get("compute_to_target") for t, s in summary.items()}
    within = [t for t, f in reach.items() if f is not None and f <= BAR_FRACTION]
    outcomes = {t: (s["versus"] or {}).get("at", {}).get("1") for t, s in summary.items()}
    wins = sum(o == "win" for o in outcomes.values())
    losses = sum(o == "loss" for o in outcomes.values())
    return {
        "compute_to_target": reach,
        "tasks_within_25pct": len(within),
        "tasks": len(summary),
        "equal_compute_wins": wins,
        "equal_compute_losses": losses,
        "equal_compute_ties": len(outcomes) - wins - losses,
        "met": len(within) == len(summary) and wins > len(summary) / 2,
    }


def _pct(value: float | None) -> Cell:
    return None if value is None else f"{100 * value:.0f}%"


def print_tables(summary: dict[str, Any], markdown: bool = False) -> None:
    """Regret per task and method, compute to target, and the equal-compute comparison."""
    for task_name, entry in summary.items():
        rows: list[list[Cell]] = []
        for name, row in entry["methods"].items():
            at = row["regret_at"]
            rows.append(
                [name]
                + [at[f"{f:g}"] for f in REPORT_AT]
                + [_pct(row["compute_to_target"]), row["median_trials"], row["median_pruned"]]
            )
        print_table(
            f"{task_name}: median regret at % of full-budget TPE's compute "
            f"(C = {entry['budget_s']:,.0f} s, target = TPE's final median regret "
            f"{entry['target_regret']:.4g})",
            ["method", "10%", "25%", "50%", "100%", "compute to target", "trials", "pruned"],
            rows,
            markdown=markdown,
        )
    names = list(dict.fromkeys(m for entry in summary.values() for m in entry["methods"]))
    print_table(
        "Compute to reach full-budget TPE's final median regret (% of its compute; — = not within)",
        ["method", *summary],
        [
            [name]
            + [_pct(e["methods"].get(name, {}).get("compute_to_target")) for e in summary.values()]
            for name in names
        ],
        markdown=markdown,
    )
    rows = []
    for task_name, entry in summary.items():
        versus = entry["versus"]
        reach = entry["methods"].get(DEFAULT, {}).get("compute_to_target")
        if versus is None:
            rows.append([task_name, _pct(reach), None, None, None, None, None])
            continue
        best = versus["optuna_best"]
        rows.append(
            [
                task_name,
                _pct(reach),
                _pct(entry["methods"][best]["compute_to_target"]),
                best,
            ]
            + [versus["at"][f"{f:g}"] for f in (0.25, 0.5, 1.0)]
        )
    print_table(
        "tunelab default (AutoSampler + successive halving from 1/9 of the budget) vs Optuna's "
        "best pairing per task",
        [
            "task",
            "default: compute to target",
            "optuna best: to target",
            "optuna best",
            "@25%",
            "@50%",
            "@100%",
        ],
        rows,
        markdown=markdown,
    )


def _report(summary: dict[str, Any], markdown: bool) -> None:
    bar = bar_status(summary)
    print_tables(summary, markdown=markdown)
    print(
        f"bar: default within {BAR_FRACTION:.0%} of TPE's compute on "
        f"{bar['tasks_within_25pct']}/{bar['tasks']} tasks; equal compute vs Optuna's best: "
        f"{bar['equal_compute_wins']} wins, {bar['equal_compute_losses']} losses, "
        f"{bar['equal_compute_ties']} ties -> {'met' if bar['met'] else 'NOT met'}"
    )


def merge_tasks(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The tasks of several result files: disjoint tasks side by side, and the method rows
    of a task run in several files merged (a later file's row of a method replaces an
    earlier one). Rows merge only where the budgets agree, i.e. the same seeds of the
    full-budget reference ran on the same table."""
    summary: dict[str, Any] = {}
    for part in parts:
        for name, entry in part["tasks"].items():
            if name not in summary:
                summary[name] = json.loads(json.dumps(entry))
                continue
            mine = summary[name]
            if not np.isclose(mine["budget_s"], entry["budget_s"], rtol=1e-9) or not np.isclose(
                mine["target_regret"], entry["target_regret"], rtol=1e-9, atol=1e-12
            ):
                raise ValueError(
                    f"task {name}: budgets differ between result files "
                    f"({mine['budget_s']} s and {entry['budget_s']} s): rerun them together"
                )
            mine["methods"].update(entry["methods"])
            mine["versus"] = _versus(mine["methods"])
    return summary


def combine(files: list[Path], out: Path, markdown: bool) -> None:
    """Merge result files into one: other tasks, or other methods on the same tasks."""
    parts = [json.loads(file.read_text()) for file in files]
    summary = merge_tasks(parts)
    _report(summary, markdown)
    payload = {
        "benchmark": "multi_fidelity",
        "combined_from": [
            {
                "file": str(f),
                "settings": p["settings"],
                "machine": p["machine"],
                "wall_s": p["wall_s"],
            }
            for f, p in zip(files, parts, strict=True)
        ],
        "settings": parts[0]["settings"]
        | {
            "tasks": list(summary),
            "methods": list(dict.fromkeys(m for e in summary.values() for m in e["methods"])),
        },
        "machine": parts[-1]["machine"],
        "wall_s": sum(p["wall_s"] for p in parts),
        "harness_cpu_s": {
            m: sum(p["harness_cpu_s"].get(m, 0.0) for p in parts)
            for m in dict.fromkeys(m for p in parts for m in p["harness_cpu_s"])
        },
        "bar": bar_status(summary),
        "tasks": summary,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", help="task names (default: all available)")
    parser.add_argument("--methods", nargs="*", help="method names (default: all)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--lcdb", type=int, default=3, help="number of LCDB data sets")
    parser.add_argument(
        "--full-trials", type=int, default=40, help="trials of the full-budget TPE reference"
    )
    parser.add_argument(
        "--lcdb-full-trials", type=int, default=15, help="the same on LCDB (19 learners)"
    )
    parser.add_argument("--max-trials", type=int, default=400, help="cap per search")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 small tasks")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="only merge the tasks of earlier output FILEs into --out and print the tables",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "multi_fidelity.json", help="JSON output"
    )
    args = parser.parse_args(argv)
    if args.combine:
        combine(args.combine, args.out, args.markdown)
        return
    if args.quick:
        args.seeds, args.full_trials, args.lcdb_full_trials, args.max_trials = 2, 12, 6, 60
        args.tasks = args.tasks or ["nn/sklearn/wine", "lcdb/41161"]
    task_names = args.tasks or tasks.available_tasks(args.lcdb)
    chosen = [BY_NAME[m] for m in (args.methods or [m.name for m in METHODS])]
    if REFERENCE not in [m.name for m in chosen]:
        chosen.insert(0, BY_NAME[REFERENCE])
    skipped: dict[str, str] = {}
    for method in chosen:
        missing = method.needs()
        if missing:
            skipped[method.name] = f"{missing} is not in this checkout"
    if any(m.library == "dehb" for m in chosen):
        reason = methods.dehb_status()
        if reason:
            skipped["dehb"] = reason
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}", file=sys.stderr)
    chosen = [m for m in chosen if m.name not in skipped]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        reference_jobs = [
            (
                t,
                REFERENCE,
                seed,
                float("inf"),
                args.lcdb_full_trials if t.startswith("lcdb/") else args.full_trials,
            )
            for t in task_names
            for seed in range(args.seeds)
        ]
        runs = list(pool.map(_one, reference_jobs, chunksize=1))
        budgets = {
            t: float(np.median([r["spent"] for r in runs if r["task"] == t])) for t in task_names
        }
        jobs = [
            (t, m.name, seed, budgets[t], args.max_trials)
            for t in task_names
            for m in chosen
            if m.name != REFERENCE
            for seed in range(args.seeds)
        ]
        for i, run in enumerate(pool.map(_one, jobs, chunksize=1), start=1):
            runs.append(run)
            if i % 50 == 0:
                print(f"{i}/{len(jobs)} runs, {time.time() - start:.0f} s", file=sys.stderr)
    summary = summarise(runs, budgets)
    cpu = {m.name: sum(r["cpu_s"] for r in runs if r["method"] == m.name) for m in chosen}
    _report(summary, markdown=args.markdown)
    payload = {
        "benchmark": "multi_fidelity",
        "machine": machine_info(["tunelab", "optuna", "numpy", "scikit-learn", "torch"]),
        "settings": {
            "tasks": task_names,
            "methods": [m.name for m in chosen],
            "skipped": skipped,
            "seeds": args.seeds,
            "full_trials": args.full_trials,
            "lcdb_full_trials": args.lcdb_full_trials,
            "max_trials": args.max_trials,
            "report_at": list(REPORT_AT),
            "grid": [float(g) for g in GRID],
        },
        "wall_s": time.time() - start,
        "harness_cpu_s": cpu,
        "bar": bar_status(summary),
        "tasks": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out} in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
