"""Should AutoSampler switch to BOHBSampler when the pruner creates budgets? Measure it.

Simulated multi-fidelity studies at equal simulated compute: each report at a
step costs that step's cost, and a study stops once it has spent as much as
``--full-trials`` trials run to the end. Compared: TPE without pruning, TPE,
BOHB, AutoSampler (``auto``; ``auto_before``: its choice before it knew of
budgets, GP or TPE) and random search with asynchronous successive halving
(ASHA), and TPE / BOHB / AutoSampler with Hyperband. Quality is the true
final value of the best *completed* trial (what a user would deploy), as regret
against the problem's best final value.

Problems:

* ``curves-mild`` / ``curves-misleading``: synthetic learning curves on [0, 1]^4
  whose early values rank configurations by a mix of the final loss and a
  second function (Spearman rank correlation of the first step with the final
  value is printed);
* ``lcdb-<dataset>``: real learning curves (validation error against training
  set size) of LCDB's learners on one OpenML dataset, read from the ``lcdb``
  package's CSV file; the parameter is the learner, the budget the anchor, a
  report at anchor ``k`` costs its training set size.

Usage::

    PYTHONPATH=src:. python -m benchmarks.search_quality.bohb_evidence --seeds 10 \\
        --out benchmarks/results/bohb-evidence.json  # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

import tunelab as tl
from tunelab.pruners import HyperbandPruner, NopPruner, SuccessiveHalvingPruner
from tunelab.samplers import AutoSampler, BOHBSampler, RandomSampler, TPESampler


class _AutoBefore(AutoSampler):
    """AutoSampler as it chose before BOHB: blind to the pruner's budgets."""

    def _prunes_at_budgets(self, study: tl.StudyView) -> bool:
        return False


@dataclass
class Problem:
    """A simulated multi-fidelity objective."""

    name: str
    suggest: Callable[[tl.Trial], Any]
    curve: Callable[[Any], np.ndarray]  # the values at steps 1..n_steps
    step_cost: np.ndarray  # cost of a report at each step
    best: float  # best final value
    full_trials: int  # the compute of a study: this many trials run to the end


def _synthetic(name: str, mix: float, full_trials: int) -> Problem:
    n_steps = 27
    optimum = np.array([0.3, 0.7, 0.5, 0.2])
    decoy = np.array([0.8, 0.2, 0.5, 0.9])

    def suggest(trial: tl.Trial) -> np.ndarray:
        return np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)])

    def curve(x: np.ndarray) -> np.ndarray:
        final = float(np.sum((x - optimum) ** 2 * [4, 3, 2, 1]))
        # Early steps also reward closeness to a decoy: how much is set by ``mix``.
        early = mix * float(np.sum((x - decoy) ** 2 * [1, 2, 3, 4])) + 0.3
        t = np.arange(1, n_steps + 1)
        return final + early * (t**-0.7 - n_steps**-0.7)

    return Problem(name, suggest, curve, np.ones(n_steps), 0.0, full_trials)


def _lcdb_tables(openml_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Mean validation error per learner and anchor of each dataset (cached under /tmp)."""
    cache = Path("/tmp/lcdb-curves.json")
    tables = {int(k): v for k, v in json.loads(cache.read_text()).items()} if cache.exists() else {}
    missing = [i for i in openml_ids if i not in tables]
    if missing:
        import importlib.util

        import pandas as pd

        # Read the package's CSV: importing lcdb would import openml, which is not installed.
        spec = importlib.util.find_spec("lcdb")
        if spec is None or spec.origin is None:
            raise SystemExit("the lcdb package is not installed (dev extra)")
        frame = pd.read_csv(
            Path(spec.origin).parent / "database-accuracy.csv",
            usecols=["openmlid", "learner", "size_train", "score_valid"],
        )
        for openml_id in missing:
            rows = frame[frame.openmlid == openml_id]
            mean = rows.groupby(["learner", "size_train"]).score_valid.mean().reset_index()
            anchors = sorted(int(a) for a in mean.size_train.unique())
            table: dict[str, Any] = {"anchors": anchors, "curves": {}}
            for learner, curve in mean.groupby("learner"):
                by_size = dict(zip(curve.size_train, curve.score_valid, strict=True))
                if all(a in by_size for a in anchors):
                    table["curves"][learner] = [1.0 - by_size[a] for a in anchors]
            tables[openml_id] = table
        cache.write_text(json.dumps(tables))
    return {i: tables[i] for i in openml_ids}


def _lcdb(openml_id: int, table: dict[str, Any], full_trials: int) -> Problem:
    learners = sorted(table["curves"])
    curves = {k: np.array(v) for k, v in table["curves"].items()}

    def suggest(trial: tl.Trial) -> str:
        return trial.suggest_categorical("learner", learners)

    return Problem(
        f"lcdb-{openml_id}",
        suggest,
        lambda learner: curves[learner],
        np.array(table["anchors"], dtype=float),
        min(float(c[-1]) for c in curves.values()),
        full_trials,
    )


def _run(problem: Problem, method: str, seed: int) -> tuple[float, int]:
    sampler_name, _, pruner_name = method.partition("+")
    samplers = {
        "tpe": lambda: TPESampler(seed=seed),
        "bohb": lambda: BOHBSampler(seed=seed),
        "auto": lambda: AutoSampler(seed=seed),
        "auto_before": lambda: _AutoBefore(seed=seed),
        "random": lambda: RandomSampler(seed=seed),
    }
    n_steps = len(problem.step_cost)
    pruners = {
        "": NopPruner,
        "asha": lambda: SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "hyperband": lambda: HyperbandPruner(
            min_resource=1, max_resource=n_steps, reduction_factor=3
        ),
    }
    budget = problem.full_trials * float(problem.step_cost.sum())
    spent = [0.0]
    # Named by problem and seed: Hyperband assigns brackets by hashing the name,
    # so every method meets the same brackets on a seed.
    study = tl.create_study(
        study_name=f"{problem.name}-{seed}",
        sampler=samplers[sampler_name](),
        pruner=pruners[pruner_name](),
        heartbeat_interval=None,
    )

    def objective(trial: tl.Trial) -> float:
        values = problem.curve(problem.suggest(trial))
        for step, value in enumerate(values, start=1):
            spent[0] += problem.step_cost[step - 1]
            trial.report(float(value), step)
            if trial.should_prune() or spent[0] > budget:
                raise tl.TrialPruned()
        return float(values[-1])

    while spent[0] < budget:
        study.optimize(objective, n_trials=1)
    complete = [t.value for t in study.trials if t.state == tl.TrialState.COMPLETE]
    best = min((v for v in complete if v is not None), default=math.inf)
    return best - problem.best, len(study.trials)


def _rank_correlation(problem: Problem, rng: np.random.Generator) -> float:
    study = tl.create_study(sampler=RandomSampler(seed=int(rng.integers(1 << 30))))
    firsts, finals = [], []
    for _ in range(200):
        trial = study.ask()
        values = problem.curve(problem.suggest(trial))
        firsts.append(values[0])
        finals.append(values[-1])
        study.tell(trial, float(values[-1]))
    return float(stats.spearmanr(firsts, finals).statistic)


METHODS = [
    "tpe",
    "tpe+asha",
    "bohb+asha",
    "auto_before+asha",
    "auto+asha",
    "random+asha",
    "tpe+hyperband",
    "bohb+hyperband",
    "auto_before+hyperband",
    "auto+hyperband",
]


# Paired comparisons printed per problem: (candidate, baseline).
PAIRS = [
    ("auto+asha", "bohb+asha"),
    ("auto+hyperband", "bohb+hyperband"),
    ("auto+asha", "auto_before+asha"),
    ("auto+hyperband", "auto_before+hyperband"),
    ("auto+asha", "tpe+asha"),
    ("auto+hyperband", "tpe+hyperband"),
    ("bohb+asha", "tpe+asha"),
    ("bohb+hyperband", "tpe+hyperband"),
    ("bohb+asha", "tpe"),
    ("tpe+asha", "tpe"),
]


def _print_pairs(results: dict[str, Any]) -> None:
    """Per pair: seeds where the candidate did better / worse, and Wilcoxon's p."""
    for candidate, baseline in PAIRS:
        if candidate not in results or baseline not in results:
            continue
        a = np.array(results[candidate]["regret"])
        b = np.array(results[baseline]["regret"])
        better, worse = int((a < b).sum()), int((a > b).sum())
        p = float(stats.wilcoxon(a, b).pvalue) if better + worse else 1.0
        print(f"    {candidate} vs {baseline}: better on {better}, worse on {worse}, p={p:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--full-trials", type=int, default=20, help="compute, synthetic")
    parser.add_argument("--lcdb-full-trials", type=int, default=8, help="compute, lcdb")
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--lcdb", nargs="*", type=int, default=[1483, 293, 1567])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tl.logging.set_verbosity(tl.logging.WARNING)
    problems = [
        _synthetic("curves-mild", 0.5, args.full_trials),
        _synthetic("curves-misleading", 2.0, args.full_trials),
    ]
    problems += [
        _lcdb(i, table, args.lcdb_full_trials) for i, table in _lcdb_tables(args.lcdb).items()
    ]
    results: dict[str, dict[str, Any]] = {}
    for problem in problems:
        rho = _rank_correlation(problem, np.random.default_rng(0))
        print(f"\n{problem.name}: Spearman(first step, final) = {rho:.2f}", flush=True)
        results[problem.name] = {"rank_correlation": rho}
        for method in args.methods:
            start = time.perf_counter()
            runs = [_run(problem, method, seed) for seed in range(args.seeds)]
            regrets = [r for r, _ in runs]
            results[problem.name][method] = {"regret": regrets, "trials": [n for _, n in runs]}
            print(
                f"  {method:16s} median regret {np.median(regrets):.4f}  "
                f"mean {np.mean(regrets):.4f}  trials {np.median([n for _, n in runs]):.0f}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        _print_pairs(results[problem.name])
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
