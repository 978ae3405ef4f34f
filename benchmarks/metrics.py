"""Time tunelab's metrics against sklearn.metrics and check the values are equal.

Usage::

    python benchmarks/metrics.py [--sizes 10000 1000000 10000000] [--quick]

Classification metrics use binary data (30% positives, scores from a noisy
logistic model, predictions thresholded at 0.5); regression metrics use a noisy
linear target. Every timing is the best of a few ``time.perf_counter`` repeats.
The bootstrap section times a 1,000-resample interval at 10,000 rows against a
loop calling sklearn once per resample; that loop is run on fewer resamples and
extrapolated linearly (the table says how many). Results are printed as a table
and written to ``benchmarks/results/metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import sklearn.metrics as skm

try:
    import tunelab.evaluation.metrics as tm
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import tunelab.evaluation.metrics as tm

from tunelab.evaluation._intervals import bootstrap_interval, resample_indices
from tunelab.evaluation.metrics._batch import batch_statistic

SEED = 20240601
RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"

# name -> (tunelab call, sklearn call, input kind); kinds: pred, score, reg
Call = Callable[[np.ndarray, np.ndarray], Any]
METRICS: dict[str, tuple[Call, Call, str]] = {
    "accuracy": (tm.accuracy, skm.accuracy_score, "pred"),
    "balanced_accuracy": (tm.balanced_accuracy, skm.balanced_accuracy_score, "pred"),
    "precision": (tm.precision, skm.precision_score, "pred"),
    "recall": (tm.recall, skm.recall_score, "pred"),
    "f1": (tm.f1, skm.f1_score, "pred"),
    "f1_macro": (
        lambda t, p: tm.f1(t, p, average="macro"),
        lambda t, p: skm.f1_score(t, p, average="macro"),
        "pred",
    ),
    "fbeta(2)": (
        lambda t, p: tm.fbeta(t, p, beta=2),
        lambda t, p: skm.fbeta_score(t, p, beta=2),
        "pred",
    ),
    "confusion_matrix": (tm.confusion_matrix, skm.confusion_matrix, "pred"),
    "matthews_corrcoef": (tm.matthews_corrcoef, skm.matthews_corrcoef, "pred"),
    "cohen_kappa": (tm.cohen_kappa, skm.cohen_kappa_score, "pred"),
    "roc_auc": (tm.roc_auc, skm.roc_auc_score, "score"),
    "average_precision": (tm.average_precision, skm.average_precision_score, "score"),
    "log_loss": (tm.log_loss, skm.log_loss, "score"),
    "brier_score": (tm.brier_score, skm.brier_score_loss, "score"),
    "top_k_accuracy(k=1)": (
        lambda t, s: tm.top_k_accuracy(t, s, k=1),
        lambda t, s: skm.top_k_accuracy_score(t, s, k=1),
        "score",
    ),
    "mean_absolute_error": (tm.mean_absolute_error, skm.mean_absolute_error, "reg"),
    "mean_squared_error": (tm.mean_squared_error, skm.mean_squared_error, "reg"),
    "root_mean_squared_error": (tm.root_mean_squared_error, skm.root_mean_squared_error, "reg"),
    "r2": (tm.r2, skm.r2_score, "reg"),
    "mean_absolute_percentage_error": (
        tm.mean_absolute_percentage_error,
        skm.mean_absolute_percentage_error,
        "reg",
    ),
    "median_absolute_error": (tm.median_absolute_error, skm.median_absolute_error, "reg"),
    "explained_variance": (tm.explained_variance, skm.explained_variance_score, "reg"),
}
SHARED = [
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "matthews_corrcoef",
    "cohen_kappa",
    "roc_auc",
    "average_precision",
    "neg_log_loss",
    "neg_brier_score",
]


def make_data(n: int) -> dict[str, np.ndarray]:
    """Binary classification and regression data from a fixed seed."""
    rng = np.random.default_rng(SEED)
    y = (rng.random(n) < 0.3).astype(np.int64)
    score = 1.0 / (1.0 + np.exp(-(1.5 * y - 1.0 + rng.normal(size=n))))
    target = rng.normal(loc=3.0, size=n)
    return {
        "y": y,
        "score": score,
        "pred": (score > 0.5).astype(np.int64),
        "target": target,
        "target_pred": target + 0.3 * rng.normal(size=n),
    }


class Timing(tuple):
    """Best wall-clock (``perf_counter``) and best CPU (``process_time``) seconds."""

    @property
    def wall(self) -> float:
        return self[0]

    @property
    def cpu(self) -> float:
        return self[1]


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[Timing, Any]:
    """Fastest of ``repeats`` runs and the last result.

    CPU time is recorded beside wall time because other processes may share the
    machine: it is far less sensitive to them.
    """
    wall = cpu = float("inf")
    out = None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return Timing((wall, cpu)), out


def equal(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True))


def inputs(data: dict[str, np.ndarray], kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "reg":
        return data["target"], data["target_pred"]
    return data["y"], data[kind]


def bench_metrics(n: int, repeats: int) -> list[dict[str, Any]]:
    data = make_data(n)
    rows = []
    for name, (ours, theirs, kind) in METRICS.items():
        t, p = inputs(data, kind)
        t_ours, v_ours = best_time(lambda o=ours, t=t, p=p: o(t, p), repeats)
        t_sk, v_sk = best_time(lambda s=theirs, t=t, p=p: s(t, p), max(1, repeats - 1))
        rows.append(_row(name, n, t_ours, t_sk, equal(v_ours, v_sk)))
    rows.append(bench_shared(data, n, repeats))
    return rows


def bench_shared(data: dict[str, np.ndarray], n: int, repeats: int) -> dict[str, Any]:
    """All label and score metrics at once: compute_metrics vs one sklearn call each."""
    y, pred, score = data["y"], data["pred"], data["score"]

    def sklearn_all() -> dict[str, float]:
        out = {}
        for name in SHARED:
            scorer = skm.get_scorer(name) if name != "cohen_kappa" else None
            if scorer is None:
                out[name] = skm.cohen_kappa_score(y, pred)
                continue
            given = pred if scorer._response_method == "predict" else score
            out[name] = scorer._sign * scorer._score_func(y, given, **scorer._kwargs)
        return out

    t_ours, ours = best_time(lambda: tm.compute_metrics(y, pred, score, SHARED), repeats)
    t_sk, theirs = best_time(sklearn_all, max(1, repeats - 1))
    same = all(equal(ours[k], theirs[k]) for k in SHARED)
    return _row(f"compute_metrics({len(SHARED)} metrics)", n, t_ours, t_sk, same)


def _row(name: str, n: int, t_ours: Timing, t_sk: Timing, same: bool) -> dict[str, Any]:
    return {
        "metric": name,
        "rows": n,
        "tunelab_ms": 1e3 * t_ours.wall,
        "sklearn_ms": 1e3 * t_sk.wall,
        "ratio": t_sk.wall / t_ours.wall,
        "tunelab_cpu_ms": 1e3 * t_ours.cpu,
        "sklearn_cpu_ms": 1e3 * t_sk.cpu,
        "cpu_ratio": t_sk.cpu / t_ours.cpu,
        "equal": same,
    }


def bench_bootstrap(n: int, n_resamples: int, loop_resamples: int) -> list[dict[str, Any]]:
    """Vectorised bootstrap vs a loop over sklearn (timed on fewer resamples, scaled)."""
    data = make_data(n)
    y = data["y"]
    cases = [
        ("roc_auc", data["score"], skm.roc_auc_score),
        ("f1", data["pred"], skm.f1_score),
        ("neg_log_loss", data["score"], lambda t, s: -skm.log_loss(t, s)),
    ]
    rows = []
    for name, output, reference in cases:
        t_ours, _ = best_time(
            lambda m=name, o=output: bootstrap_interval(
                m, y, o, n_resamples=n_resamples, random_state=0
            ),
            3,
        )
        t_bca, _ = best_time(
            lambda m=name, o=output: bootstrap_interval(
                m, y, o, n_resamples=n_resamples, random_state=0, method="bca"
            ),
            3,
        )
        indices = np.concatenate(
            list(resample_indices(n, loop_resamples, np.random.default_rng(0)))
        )
        t_loop, loop_values = best_time(
            lambda r=reference, o=output, rs=indices: np.array([r(y[i], o[i]) for i in rs]), 1
        )
        scale = n_resamples / loop_resamples
        batch = batch_statistic(tm.get_metric(name), y, output)
        same = batch is not None and equal(batch.evaluate(indices), loop_values)
        rows.append(
            {
                "metric": f"bootstrap {name} ({n_resamples} resamples)",
                "rows": n,
                "tunelab_ms": 1e3 * t_ours.wall,
                "tunelab_bca_ms": 1e3 * t_bca.wall,
                "sklearn_loop_ms": 1e3 * t_loop.wall * scale,
                "loop_resamples_measured": loop_resamples,
                "ratio": t_loop.wall * scale / t_ours.wall,
                "tunelab_cpu_ms": 1e3 * t_ours.cpu,
                "sklearn_loop_cpu_ms": 1e3 * t_loop.cpu * scale,
                "cpu_ratio": t_loop.cpu * scale / t_ours.cpu,
                "equal": same,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], bootstrap: list[dict[str, Any]]) -> None:
    header = (
        f"{'metric':38s} {'rows':>9s} {'tunelab ms':>11s} {'sklearn ms':>11s} "
        f"{'ratio':>8s} {'cpu ratio':>9s}  equal"
    )
    print(header)
    print("-" * len(header))
    for r in [*rows, *bootstrap]:
        theirs = r.get("sklearn_ms", r.get("sklearn_loop_ms"))
        print(
            f"{r['metric']:38s} {r['rows']:>9d} {r['tunelab_ms']:>11.2f} {theirs:>11.2f} "
            f"{r['ratio']:>7.1f}x {r['cpu_ratio']:>8.1f}x  {r['equal']}"
        )
    if bootstrap:
        bca = ", ".join(f"{r['metric'].split()[1]} {r['tunelab_bca_ms']:.0f}" for r in bootstrap)
        print(
            "bootstrap: sklearn = a Python loop calling sklearn once per resample, timed on "
            f"{bootstrap[0]['loop_resamples_measured']} resamples and scaled linearly to 1000; "
            f"tunelab BCa ms: {bca}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and resamples")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        repeats = 2 if args.quick else (9 if n <= 100_000 else 5 if n <= 1_000_000 else 2)
        rows.extend(bench_metrics(n, repeats))
        print(f"done {n} rows", file=sys.stderr)
    boot = bench_bootstrap(10_000, 1000, 20 if args.quick else 100)
    print_table(rows, boot)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        # Other processes share the machine: the load shows how noisy timings were.
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "seed": SEED,
        "metrics": rows,
        "bootstrap": boot,
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
