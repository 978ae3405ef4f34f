"""Replay the deploy-aware grid with multi-objective samplers; print and save the tables.

Usage::

    PYTHONPATH=src:. python -m benchmarks.deploy_aware --markdown      # 20 seeds, all samplers
    PYTHONPATH=src:. python -m benchmarks.deploy_aware --quick         # 3 seeds

Protocol, per task: the table of ``generate.py`` holds every configuration of the
grid (:mod:`space`) with its cross-validated macro F1 (maximised), one-row p95
latency and size as served (both minimised). Each search asks a trial for a configuration with
:func:`space.suggest` (family as a categorical whose branches have their own
parameters, precision as a categorical), reads its three values from the table and
tells them; nothing is trained. A search runs N = ``--fraction`` (20 %) of the grid's
configuration count in trials; every trial counts as one evaluation, including one
that repeats a configuration already evaluated (as it would cost a training and a
measurement in a real study). The score after n trials is the hypervolume of the
values of those n trials over the hypervolume of all grid configurations, in the
normalised box of :mod:`hv` (each objective scaled by the grid's range, reference
point 1.1). Bar (issue #14): the default sampler's median ratio at N is at least 0.95.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS_DIR, Cell, machine_info, print_table
from benchmarks.deploy_aware import hv, space

DATA_DIR = Path(__file__).resolve().parent / "data"
BAR_RATIO = 0.95
BAR_FRACTION = 0.2
DEFAULT = "tunelab:default"
INTS = {"mlp_layers", "mlp_width_log2", "gbt_trees_log2", "gbt_depth"}
FLOATS = {"mlp_alpha", "gbt_learning_rate"}


@dataclass(frozen=True)
class Table:
    """One task's tabulated grid.

    Attributes:
        task: ``digits`` or ``breast_cancer``.
        configs: Every configuration (rows of the CSV, in order).
        values: ``(n, 3)`` objective values in :data:`space.OBJECTIVES` order.
    """

    task: str
    configs: list[dict[str, Any]]
    values: np.ndarray

    @property
    def losses(self) -> np.ndarray:
        return hv.as_losses(self.values, [m for _, m in space.OBJECTIVES])

    def index(self) -> dict[tuple[Any, ...], int]:
        return {space.key(c): i for i, c in enumerate(self.configs)}


@cache
def load(task: str) -> Table:
    """Read ``data/<task>.csv`` (written by ``generate.py``)."""
    path = DATA_DIR / f"{task}.csv"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run python -m benchmarks.deploy_aware.generate")
    configs, values = [], []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            config: dict[str, Any] = {"family": row["family"], "precision": row["precision"]}
            for name in space.AXES[row["family"]]:
                config[name] = int(row[name]) if name in INTS else float(row[name])
            configs.append(config)
            values.append([float(row[name]) for name, _ in space.OBJECTIVES])
    return Table(task, configs, np.array(values))


def _samplers() -> dict[str, Callable[[int], Any]]:
    import optuna

    from tunelab import samplers

    return {
        DEFAULT: lambda seed: samplers.AutoSampler(seed=seed),
        "tunelab:tpe": lambda seed: samplers.TPESampler(seed=seed),
        "tunelab:nsga2": lambda seed: samplers.NSGAIISampler(seed=seed),
        "tunelab:gp": lambda seed: samplers.GPSampler(seed=seed),
        "tunelab:random": lambda seed: samplers.RandomSampler(seed=seed),
        "optuna:tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
        "optuna:nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
    }


METHODS = (
    DEFAULT,
    "tunelab:tpe",
    "tunelab:nsga2",
    "tunelab:gp",
    "tunelab:random",
    "optuna:tpe",
    "optuna:nsga2",
)


def replay(job: tuple[str, str, int, int]) -> dict[str, Any]:
    """One search: ``n_trials`` trials of ``method`` on ``task``'s table, seeded ``seed``."""
    task, method, seed, n_trials = job
    table = load(task)
    index = table.index()
    directions = ["maximize" if m else "minimize" for _, m in space.OBJECTIVES]
    sampler = _samplers()[method](seed)
    if method.startswith("optuna:"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study: Any = optuna.create_study(directions=directions, sampler=sampler)
    else:
        import tunelab

        study = tunelab.create_study(directions=directions, sampler=sampler)
    rows = []
    start = time.process_time()
    with warnings.catch_warnings():
        # Optuna flags its multi-objective samplers as experimental.
        warnings.simplefilter("ignore")
        for _ in range(n_trials):
            trial = study.ask()
            row = index[space.key(space.suggest(trial))]
            study.tell(trial, [float(v) for v in table.values[row]])
            rows.append(row)
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "rows": rows,
        "cpu_s": time.process_time() - start,
    }


def _quartiles(values: list[float]) -> dict[str, float]:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(q50), "q25": float(q25), "q75": float(q75)}


def _groups(table: Table) -> list[str]:
    return [f"{c['family']}/{c['precision']}" for c in table.configs]


def summarise(runs: list[dict[str, Any]], counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Per task: the grid's front, each method's ratios at each count, and what it misses."""
    out: dict[str, Any] = {}
    for task, at in counts.items():
        table = load(task)
        norm = hv.Normaliser(table.losses)
        strict_norm = hv.Normaliser(table.losses, box="front")
        front = np.flatnonzero(hv.front_mask(table.losses))
        groups = np.array(_groups(table))
        scaled_front = norm(table.losses[front])
        reference = np.full(len(space.OBJECTIVES), hv.REFERENCE)
        methods: dict[str, Any] = {}
        for method in dict.fromkeys(r["method"] for r in runs if r["task"] == task):
            own = [r for r in runs if r["task"] == task and r["method"] == method]
            ratios = {
                label: _quartiles([norm.ratio(table.losses[r["rows"][:n]]) for r in own])
                for label, n in at.items()
            }
            last = max(at.values())
            strict = _quartiles([strict_norm.ratio(table.losses[r["rows"][:last]]) for r in own])
            found_sets = [table.losses[r["rows"][:last]] for r in own]
            hits = np.mean([hv.covered(table.losses[front], f) for f in found_sets], axis=0)
            missed: dict[str, float] = {}
            for group in sorted(set(groups[front])):
                mine = scaled_front[groups[front] == group]
                gains = []
                for found in found_sets:
                    base = hv.hypervolume(norm(found), reference)
                    both = np.vstack([norm(found), mine])
                    gains.append((hv.hypervolume(both, reference) - base) / norm.grid_volume)
                missed[group] = float(np.median(gains))
            methods[method] = {
                "ratio": ratios,
                "ratio_front_box": strict,
                "seeds": len(own),
                "distinct_median": float(np.median([len(set(r["rows"][:last])) for r in own])),
                "front_found_share": float(hits.mean()),
                "front_hit_rate": [float(h) for h in hits],
                "missed_volume_by_group": missed,
                "cpu_s_median": float(np.median([r["cpu_s"] for r in own])),
            }
        out[task] = {
            "grid_size": len(table.configs),
            "trials": at,
            "front": [int(i) for i in front],
            "front_by_group": {g: int(np.sum(groups[front] == g)) for g in sorted(set(groups))},
            "objective_ranges": {
                name: [float(table.values[:, j].min()), float(table.values[:, j].max())]
                for j, (name, _) in enumerate(space.OBJECTIVES)
            },
            "methods": methods,
        }
    return out


def bar_status(summary: dict[str, Any]) -> dict[str, Any]:
    """The issue's bar for the default sampler, per task."""
    label = f"{BAR_FRACTION:g}"
    per_task = {
        task: {
            "median_ratio": info["methods"][DEFAULT]["ratio"][label]["median"],
            "trials": info["trials"][label],
            "grid_size": info["grid_size"],
            "met": info["methods"][DEFAULT]["ratio"][label]["median"] >= BAR_RATIO,
        }
        for task, info in summary.items()
        if DEFAULT in info["methods"] and label in info["trials"]
    }
    return {
        "rule": f"median hypervolume ratio >= {BAR_RATIO} after {BAR_FRACTION:.0%} of the grid",
        "tasks": per_task,
        "met": bool(per_task) and all(t["met"] for t in per_task.values()),
    }


def report(summary: dict[str, Any], markdown: bool) -> None:
    """Print the grid, ratio and missed-region tables."""
    rows: list[list[Cell]] = []
    for task, info in summary.items():
        fronts = ", ".join(f"{g} {n}" for g, n in info["front_by_group"].items())
        rows.append([task, info["grid_size"], len(info["front"]), fronts])
    print_table(
        "Grids (configurations, Pareto-front size and its members by family/precision)",
        ["task", "configs", "front", "front members"],
        rows,
        markdown=markdown,
    )
    for task, info in summary.items():
        labels = list(info["trials"])
        columns = ["sampler"]
        for label in labels:
            n = info["trials"][label]
            columns.append(f"HV ratio at {float(label):.0%} (n={n}): median [q25, q75]")
        last = max(info["trials"].values())
        columns += [f"front box, n={last}", "distinct configs", "grid front found", "CPU s/run"]
        rows = []
        for method, m in info["methods"].items():
            cells: list[Cell] = [method]
            for label in labels:
                r = m["ratio"][label]
                cells.append(f"{r['median']:.3f} [{r['q25']:.3f}, {r['q75']:.3f}]")
            s = m["ratio_front_box"]
            cells.append(f"{s['median']:.3f} [{s['q25']:.3f}, {s['q75']:.3f}]")
            cells += [m["distinct_median"], f"{m['front_found_share']:.0%}", m["cpu_s_median"]]
            rows.append(cells)
        print_table(
            f"{task}: hypervolume of the search / the grid's ({info['grid_size']} configs, "
            f"{m['seeds']} seeds)",
            columns,
            rows,
            markdown=markdown,
        )
        groups = list(next(iter(info["methods"].values()))["missed_volume_by_group"])
        rows = [
            [method, *(f"{m['missed_volume_by_group'][g]:.3f}" for g in groups)]
            for method, m in info["methods"].items()
        ]
        print_table(
            f"{task}: median share of the grid's hypervolume the search's front lacks, "
            "by the family/precision of the grid-front points that would add it",
            ["sampler", *groups],
            rows,
            markdown=markdown,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(space.TASKS), choices=space.TASKS)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument(
        "--fractions",
        nargs="*",
        type=float,
        default=[0.1, BAR_FRACTION],
        help="report points, as fractions of the grid size (the largest sets the trials)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 seeds")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "deploy_aware.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 3
    # Rounded down: a search never gets more than its fraction of the grid.
    counts = {
        task: {f"{f:g}": int(f * len(load(task).configs) + 1e-9) for f in sorted(args.fractions)}
        for task in args.tasks
    }
    jobs = [
        (task, method, seed, max(counts[task].values()))
        for task in args.tasks
        for method in args.methods
        for seed in range(args.seeds)
    ]
    start = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(replay, jobs, chunksize=1))
    summary = summarise(runs, counts)
    report(summary, args.markdown)
    bar = bar_status(summary)
    for task, status in bar["tasks"].items():
        verdict = "met" if status["met"] else "missed"
        print(
            f"bar ({bar['rule']}) on {task}: {verdict}, median {status['median_ratio']:.3f} "
            f"with {status['trials']} of {status['grid_size']} evaluations"
        )
    meta_path = DATA_DIR / "meta.json"
    payload = {
        "benchmark": "deploy_aware",
        "machine": machine_info(["tunelab", "optuna", "numpy", "scikit-learn"]),
        "table": json.loads(meta_path.read_text()) if meta_path.exists() else None,
        "settings": {
            "tasks": args.tasks,
            "methods": args.methods,
            "seeds": args.seeds,
            "fractions": sorted(args.fractions),
            "objectives": [
                {"name": n, "direction": "maximize" if m else "minimize"}
                for n, m in space.OBJECTIVES
            ],
            "normalisation": "each loss scaled to [0, 1] by the grid's min and max",
            "normalisation_front_box": "the same by the min and max of the grid's Pareto front",
            "reference_point": hv.REFERENCE,
            "duplicates": "a trial repeating a configuration counts as an evaluation",
        },
        "wall_s": time.time() - start,
        "bar": bar,
        "tasks": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out} in {time.time() - start:.0f} s")
