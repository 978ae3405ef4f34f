"""Seconds per parameter-importance call: tunelab's evaluators beside Optuna's, same trials.

One random-search history of 10,000 trials over 32 parameters (20 floats, 4 log floats,
4 integers, 4 categoricals) is stored in a tunelab study and, trial for trial, in an
Optuna study. The objective depends strongly on ``f0``, less on ``f1``, ``lg0``, ``i0``
and ``c0``, and not at all on the rest. Each evaluator runs on both studies; the table
gives the wall-clock and CPU seconds of ``get_param_importances`` (best of ``--repeats``
for PED-ANOVA, one call for the forests), the CPU-time speed-up and the Spearman
correlation between the two libraries' importances. Optuna's
fANOVA takes minutes at this size: ``--skip-optuna-fanova`` leaves it out.

Usage::

    python benchmarks/importance.py                         # 10,000 trials x 32 params
    python benchmarks/importance.py --trials 2000 --skip-optuna-fanova
    python benchmarks/importance.py --only PED-ANOVA --output importance_ped.json
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import optuna.importance as oi
from _common import add_repo_to_path, machine_info, print_table, ratio, write_json
from scipy.stats import spearmanr

add_repo_to_path()

import tunelab as tl  # noqa: E402
import tunelab.importance as ti  # noqa: E402
from tests.importance.peer import optuna_copy  # noqa: E402
from tunelab.samplers import RandomSampler  # noqa: E402


def objective(trial: Any) -> float:
    """32 parameters; five matter, in decreasing order of effect."""
    floats = [trial.suggest_float(f"f{i}", -1.0, 1.0) for i in range(20)]
    logs = [trial.suggest_float(f"lg{i}", 1e-4, 1.0, log=True) for i in range(4)]
    ints = [trial.suggest_int(f"i{i}", 0, 15) for i in range(4)]
    cats = [trial.suggest_categorical(f"c{i}", ["a", "b", "c", "d"]) for i in range(4)]
    return (
        4.0 * floats[0] ** 2
        + 1.0 * floats[1]
        + 0.5 * abs(math.log10(logs[0]) + 2.0)
        + 0.05 * abs(ints[0] - 7)
        + 0.3 * (cats[0] == "a")
    )


def build_studies(n_trials: int, seed: int) -> tuple[tl.Study, optuna.Study]:
    """The same history in both libraries (random search by tunelab, copied into Optuna)."""
    study = tl.create_study(sampler=RandomSampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    return study, optuna_copy(study)


def timed(
    call: Callable[[], dict[str, float]], repeats: int
) -> tuple[float, float, dict[str, float]]:
    """Best wall-clock and CPU seconds of ``repeats`` calls, and the last result.

    CPU time is this process's own, so it moves little when other programs load the
    machine; wall-clock is what a user waits.
    """
    wall, cpu, result = math.inf, math.inf, {}
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = call()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    names = sorted(a)
    return float(spearmanr([a[n] for n in names], [b[n] for n in names]).statistic)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per evaluator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip-optuna-fanova", action="store_true", help="do not run Optuna's fANOVA (minutes)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=["PED-ANOVA", "fANOVA", "MDI"], help="evaluators to run"
    )
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    parser.add_argument("--output", default="importance.json", help="file in benchmarks/results")
    args = parser.parse_args(argv)
    if args.trials < 2 or args.repeats < 1:
        parser.error("--trials must be >= 2 and --repeats >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    study, peer = build_studies(args.trials, args.seed)
    print(f"built {args.trials:,} trials x 32 params in {time.perf_counter() - start:.1f} s")
    evaluators: list[tuple[str, Any, Any, bool]] = [
        ("PED-ANOVA", ti.PedAnovaImportanceEvaluator(), oi.PedAnovaImportanceEvaluator(), False),
        (
            "fANOVA",
            ti.FanovaImportanceEvaluator(seed=args.seed),
            oi.FanovaImportanceEvaluator(seed=args.seed),
            args.skip_optuna_fanova,
        ),
        (
            "MDI",
            ti.MeanDecreaseImpurityImportanceEvaluator(seed=args.seed),
            oi.MeanDecreaseImpurityImportanceEvaluator(seed=args.seed),
            False,
        ),
    ]
    results: dict[str, Any] = {}
    rows = []
    for name, ours, theirs, skip_peer in evaluators:
        if args.only and name not in args.only:
            continue
        # The forests are slow: time them once, whatever --repeats says.
        repeats = args.repeats if name == "PED-ANOVA" else 1
        ours_s, ours_cpu, ours_imp = timed(
            lambda e=ours: ti.get_param_importances(study, evaluator=e), repeats
        )
        peer_s: float | None = None
        peer_cpu: float | None = None
        rho: float | None = None
        peer_imp: dict[str, float] | None = None
        if not skip_peer:
            peer_s, peer_cpu, peer_imp = timed(
                lambda e=theirs: oi.get_param_importances(peer, evaluator=e), repeats
            )
            rho = spearman(ours_imp, peer_imp)
        top = ", ".join(list(ours_imp)[:5])
        rows.append([name, ours_s, ours_cpu, peer_s, peer_cpu, ratio(peer_cpu, ours_cpu), rho, top])
        results[name] = {
            "tunelab_s": ours_s,
            "tunelab_cpu_s": ours_cpu,
            "optuna_s": peer_s,
            "optuna_cpu_s": peer_cpu,
            "speedup_wall": ratio(peer_s, ours_s),
            "speedup_cpu": ratio(peer_cpu, ours_cpu),
            "spearman": rho,
            "tunelab": ours_imp,
            "optuna": peer_imp,
            "repeats": repeats,
        }
        peer_text = "skipped" if peer_s is None else f"{peer_s:.3f} s"
        print(f"{name}: tunelab {ours_s:.3f} s, Optuna {peer_text}", flush=True)
    title = f"get_param_importances on {args.trials:,} trials x 32 parameters"
    columns = [
        "evaluator",
        "tunelab s",
        "tunelab CPU s",
        "Optuna s",
        "Optuna CPU s",
        "CPU speed-up",
        "Spearman",
        "tunelab top 5",
    ]
    print_table(title, columns, rows, markdown=args.markdown)
    path = write_json(
        args.output,
        {
            "benchmark": "importance",
            "machine": machine_info(["tunelab", "optuna", "scikit-learn", "numpy"]),
            "settings": {
                "trials": args.trials,
                "params": 32,
                "repeats": args.repeats,
                "seed": args.seed,
                "skip_optuna_fanova": args.skip_optuna_fanova,
                "only": args.only,
                "relevant": ["f0", "f1", "lg0", "c0", "i0"],
            },
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
