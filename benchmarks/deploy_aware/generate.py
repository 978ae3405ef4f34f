"""Tabulate the deploy-aware grid: every configuration trained, converted, timed and sized.

For each task (digits, breast cancer; scikit-learn's copies, split 2/3 train, 1/3
holdout, stratified, seed 0) and each structure of :mod:`space`:

* quality (``f1``, the searched objective) is cross-validated on the training part, as
  ``tunelab tune`` scores a trial: the product's default folds (:class:`CVConfig`: 5
  stratified folds, shuffled, seed 0), the model fitted on each fold's other rows,
  macro F1 on the fold's validation rows, averaged. ``float32``: the scikit-learn
  model's labels (its ONNX graph agrees with them: the conversion checks parity).
  ``int8``: the labels of the dynamically quantised graph that
  :func:`tunelab.deploy.to_onnx` builds from that fold's model (quantised per fold).
  ``f1_cv_std`` is the spread over the folds; ``f1_holdout`` is the macro F1 of the
  model fitted on the whole training part on the holdout (the table's former quality).
* serving cost is measured on the model fitted on the whole training part, at both
  precisions. ``float32``: :func:`tunelab.deploy.measure` on the holdout rows (one-row
  p95 over ``--calls`` timed calls after 20 warm-up calls, ONNX Runtime on one thread),
  and its ``size_mb``. ``int8``: the quantised graph run by
  :class:`tunelab.deploy._onnx.OnnxRunner` and timed with the same loop as ``measure``
  (its ``_timed``), size = ``measure``'s ``size_int8_mb``. (``measure(...,
  precision="int8")`` is being added by another change; until it lands this is the
  same measurement done by hand.) Tree ensembles have nothing to quantise, so their
  int8 graph is the float graph and differs only by timing noise.

``--keep-timings`` recomputes the quality columns only and keeps the serving columns
(and their ``load1``) of the CSV already there: the models they were measured on are
the same (same split, same seeds), and timing them again would only redraw the noise.

MLPs are a ``StandardScaler`` + ``MLPClassifier`` pipeline (adam, 300 epochs at most,
seed 0). Gradient-boosted trees are ``GradientBoostingClassifier`` grown with
``warm_start`` along the number of stages (each depth and learning rate is one
chain, measured at 16, 32, ..., 256 stages); scikit-learn's histogram variant is not
used because skl2onnx cannot convert it here.

Latency depends on the machine and its load: the table records both (the 1-minute
load average beside every row). Grid and searches read the same values, so noise
changes which points are on the front, not the comparison.

Usage (a background job; about 10 CPU minutes for the serving columns, about 5x the
fitting for the cross-validated quality)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:. nice -n 10 python -m benchmarks.deploy_aware.generate
    OMP_NUM_THREADS=1 PYTHONPATH=src:. nice -n 10 python -m benchmarks.deploy_aware.generate \
        --keep-timings --jobs 2

``OMP_NUM_THREADS=1`` does not bias the latencies: ``measure`` pins ONNX Runtime to
one thread either way (one-thread serving is what the table describes); it only keeps
the fits from competing with each other for the cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import machine_info
from benchmarks.deploy_aware import space

DATA_DIR = Path(__file__).resolve().parent / "data"
COLUMNS = (
    "family",
    *space.MLP_AXES,
    *space.GBT_AXES,
    "precision",
    "f1",
    "f1_cv_std",
    "f1_holdout",
    "latency_p50_ms",
    "latency_p95_ms",
    "batch_p95_ms",
    "size_mb",
    "fit_s",
    "load1",
)
SERVING = ("latency_p50_ms", "latency_p95_ms", "batch_p95_ms", "size_mb", "fit_s", "load1")
WARMUP = 20


def split(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and holdout rows of ``task`` (float32 holdout: what the served model gets)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(datasets, f"load_{task}")(return_X_y=True)
    x_train, x_hold, y_train, y_hold = train_test_split(
        x, y, test_size=1 / 3, random_state=0, stratify=y
    )
    return x_train, x_hold.astype(np.float32), y_train, y_hold


def fitted_models(
    family: str, x: np.ndarray, y: np.ndarray
) -> Iterator[tuple[dict[str, Any], Any, float]]:
    """Each structure of ``family`` with its fitted model and fit seconds (CPU)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if family == "mlp":
        for structure in space.structures("mlp"):
            hidden = (2 ** structure["mlp_width_log2"],) * structure["mlp_layers"]
            mlp = MLPClassifier(hidden, alpha=structure["mlp_alpha"], max_iter=300, random_state=0)
            model = make_pipeline(StandardScaler(), mlp)
            start = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x, y)
            yield structure, model, time.process_time() - start
        return
    chains: dict[tuple[int, float], Any] = {}
    spent: dict[tuple[int, float], float] = {}
    # Stages are the first (slowest) axis of the grid, so each chain grows in order.
    for structure in space.structures("gbt"):
        chain = (structure["gbt_depth"], structure["gbt_learning_rate"])
        if chain not in chains:
            chains[chain] = GradientBoostingClassifier(
                max_depth=chain[0], learning_rate=chain[1], warm_start=True, random_state=0
            )
            spent[chain] = 0.0
        model = chains[chain]
        model.set_params(n_estimators=2 ** structure["gbt_trees_log2"])
        start = time.process_time()
        model.fit(x, y)
        spent[chain] += time.process_time() - start
        yield structure, model, spent[chain]


def measure_both(
    model: Any, x: np.ndarray, y: np.ndarray, calls: int
) -> dict[str, dict[str, float]]:
    """The model's objectives as served at each precision."""
    from sklearn.metrics import f1_score

    from tunelab.deploy import measure, to_onnx
    from tunelab.deploy._measure import _row, _timed
    from tunelab.deploy._onnx import OnnxRunner, _take_rows

    served = measure(model, x, y=y, calls=calls, warmup=WARMUP)
    out = {
        "float32": {
            "f1_holdout": f1_score(y, model.predict(x), average="macro"),
            "latency_p50_ms": served.latency_p50_ms,
            "latency_p95_ms": served.latency_p95_ms,
            "batch_p95_ms": served.batch_p95_ms,
            "size_mb": served.size_mb,
        }
    }
    conversion = to_onnx(model, x, quantize=True, y=y, latency_repeats=0)
    assert conversion.quantization is not None
    runner = OnnxRunner(
        conversion.quantization.model_bytes,
        task=conversion.task,
        input_mode=conversion.input_mode,
    )
    rows = [_row(x, i % len(x)) for i in range(min(calls, 64))]
    single = _timed(runner.run, rows, calls, WARMUP)
    batch = _timed(runner.run, [_take_rows(x, served.batch_rows)], max(20, calls // 4), WARMUP)
    assert served.size_int8_mb is not None
    out["int8"] = {
        "f1_holdout": f1_score(y, runner.predict(x), average="macro"),
        "latency_p50_ms": float(np.percentile(single, 50)),
        "latency_p95_ms": float(np.percentile(single, 95)),
        "batch_p95_ms": float(np.percentile(batch, 95)),
        "size_mb": served.size_int8_mb,
    }
    return out


def quality_both(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Macro F1 on ``(x, y)`` of the model as served at each precision (int8: quantised)."""
    from sklearn.metrics import f1_score

    from tunelab.deploy import to_onnx
    from tunelab.deploy._onnx import OnnxRunner

    conversion = to_onnx(model, x, quantize=True, y=y, latency_repeats=0)
    assert conversion.quantization is not None
    runner = OnnxRunner(
        conversion.quantization.model_bytes,
        task=conversion.task,
        input_mode=conversion.input_mode,
    )
    return {
        "float32": f1_score(y, model.predict(x), average="macro"),
        "int8": f1_score(y, runner.predict(x), average="macro"),
    }


def folds(task: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The product's default cross-validation folds of ``task``'s training part."""
    from sklearn.neural_network import MLPClassifier

    from tunelab.config._cv import CVConfig

    x_train, _, y_train, _ = split(task)
    return CVConfig().splits(MLPClassifier(), x_train, y_train)


def fold_quality(job: tuple[str, int]) -> dict[str, Any]:
    """F1 per configuration key on one fold of ``task`` (a worker process's job)."""
    task, fold = job
    x_train, _, y_train, _ = split(task)
    fit_rows, val_rows = folds(task)[fold]
    x_val, y_val = x_train[val_rows].astype(np.float32), y_train[val_rows]
    load = [os.getloadavg()[0]]
    scores: dict[tuple[Any, ...], float] = {}
    for family in space.FAMILIES:
        for structure, model, _ in fitted_models(family, x_train[fit_rows], y_train[fit_rows]):
            for precision, f1 in quality_both(model, x_val, y_val).items():
                scores[space.key({"family": family, **structure, "precision": precision})] = f1
            load.append(os.getloadavg()[0])
    print(f"{task}: fold {fold} done", flush=True)
    return {"scores": scores, "load1": load}


def cv_quality(task: str, jobs: int) -> tuple[dict[tuple[Any, ...], list[float]], list[float]]:
    """Per configuration key its F1 on every fold, and the 1-minute loads seen meanwhile."""
    work = [(task, fold) for fold in range(len(folds(task)))]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(fold_quality, work))
    else:
        results = [fold_quality(job) for job in work]
    per_key: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for result in results:
        for k, f1 in result["scores"].items():
            per_key[k].append(f1)
    return per_key, [load for result in results for load in result["load1"]]


def kept_serving(task: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The serving columns (and holdout F1) of the CSV already written for ``task``."""
    path = DATA_DIR / f"{task}.csv"
    if not path.exists():
        raise SystemExit(f"--keep-timings: {path} is missing; generate without it first")
    kept = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            config: dict[str, Any] = {"family": row["family"], "precision": row["precision"]}
            for name in space.AXES[row["family"]]:
                config[name] = type(space.AXES[row["family"]][name][0])(row[name])
            # A table written before the quality was cross-validated has the holdout F1 as f1.
            holdout = row.get("f1_holdout") or row["f1"]
            kept[space.key(config)] = {
                **{name: float(row[name]) for name in SERVING},
                "f1_holdout": float(holdout),
            }
    return kept


def generate(task: str, calls: int, keep_timings: bool, jobs: int) -> dict[str, Any]:
    """Write ``data/<task>.csv`` and return what the metadata file records for it."""
    x_train, x_hold, y_train, y_hold = split(task)
    started = time.time()
    load_before = os.getloadavg()
    kept = kept_serving(task) if keep_timings else None
    quality, cv_loads = cv_quality(task, jobs)
    rows = []
    for family in space.FAMILIES:
        if kept is None:
            measured_models = (
                (structure, fit_s, measure_both(model, x_hold, y_hold, calls))
                for structure, model, fit_s in fitted_models(family, x_train, y_train)
            )
        else:
            measured_models = ((structure, None, None) for structure in space.structures(family))
        for structure, fit_s, measured in measured_models:
            for precision in space.PRECISIONS:
                config = {"family": family, **structure, "precision": precision}
                row = dict.fromkeys(COLUMNS, "")
                row.update(structure, family=family, precision=precision)
                if kept is None:
                    assert measured is not None
                    row.update(measured[precision], fit_s=fit_s, load1=os.getloadavg()[0])
                else:
                    row.update(kept[space.key(config)])
                fold_f1 = quality[space.key(config)]
                row.update(f1=float(np.mean(fold_f1)), f1_cv_std=float(np.std(fold_f1)))
                rows.append(row)
        print(f"{task}: {len(rows)} rows, {time.time() - started:.0f} s", flush=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"{task}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    loads = [row["load1"] for row in rows]
    return {
        "rows": len(rows),
        "train_rows": len(x_train),
        "holdout_rows": len(x_hold),
        "cv_folds": len(folds(task)),
        "wall_s": round(time.time() - started, 1),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "load1_min_median_max": [min(loads), float(np.median(loads)), max(loads)],
        "cv_load1_min_median_max": [min(cv_loads), float(np.median(cv_loads)), max(cv_loads)],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(space.TASKS), choices=space.TASKS)
    parser.add_argument("--calls", type=int, default=200, help="timed one-row calls per model")
    parser.add_argument(
        "--keep-timings",
        action="store_true",
        help="recompute the quality columns only; keep the serving columns of data/<task>.csv",
    )
    parser.add_argument("--jobs", type=int, default=1, help="folds cross-validated in parallel")
    args = parser.parse_args(argv)
    meta_path = DATA_DIR / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"tasks": {}}
    meta["protocol"] = {
        "calls": args.calls,
        "warmup": WARMUP,
        "quality": (
            "f1: mean macro F1 over the product's default CV folds of the training part"
            " (5 stratified, shuffled, seed 0; int8 quantised per fold); f1_holdout: the"
            " full-training-part model on the holdout (1/3, stratified, seed 0)"
        ),
        "int8_timing": "to_onnx(quantize=True) graph timed with measure's loop (by hand)",
    }
    for task in args.tasks:
        previous = meta["tasks"].get(task, {})
        meta["tasks"][task] = {
            **generate(task, args.calls, args.keep_timings, args.jobs),
            "machine": machine_info(["tunelab", "scikit-learn", "onnxruntime", "skl2onnx"]),
        }
        if args.keep_timings:
            # The serving columns are the earlier run's: keep when and under what load.
            meta["tasks"][task]["serving_columns_from"] = previous.get(
                "serving_columns_from",
                {k: previous.get(k) for k in ("machine", "load1_min_median_max", "wall_s")},
            )
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
