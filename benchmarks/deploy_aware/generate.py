"""Tabulate the deploy-aware grid: every configuration trained, converted, timed and sized.

For each task (digits, breast cancer; scikit-learn's copies, split 2/3 train, 1/3
holdout, stratified, seed 0) and each structure of :mod:`space`, the model is fitted
once and then measured as served at both precisions:

* ``float32``: :func:`tunelab.deploy.measure` on the holdout rows (one-row p95 over
  ``--calls`` timed calls after 20 warm-up calls, ONNX Runtime on one thread), and its
  ``size_mb``; quality = macro F1 of the model on the holdout (the ONNX graph agrees
  with it: the conversion checks parity).
* ``int8``: the dynamically quantised graph that :func:`tunelab.deploy.to_onnx` builds,
  run by :class:`tunelab.deploy._onnx.OnnxRunner` and timed with the same loop as
  ``measure`` (its ``_timed``), size = ``measure``'s ``size_int8_mb``; quality = macro
  F1 of the int8 graph's labels on the holdout. (``measure(..., precision="int8")``
  is being added by another change; until it lands this is the same measurement done
  by hand.) Tree ensembles have nothing to quantise, so their int8 graph is the float
  graph and differs only by timing noise.

MLPs are a ``StandardScaler`` + ``MLPClassifier`` pipeline (adam, 300 epochs at most,
seed 0). Gradient-boosted trees are ``GradientBoostingClassifier`` grown with
``warm_start`` along the number of stages (each depth and learning rate is one
chain, measured at 16, 32, ..., 256 stages); scikit-learn's histogram variant is not
used because skl2onnx cannot convert it here.

Latency depends on the machine and its load: the table records both (the 1-minute
load average beside every row). Grid and searches read the same values, so noise
changes which points are on the front, not the comparison.

Usage (about 10 CPU minutes, a background job)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:. nice -n 10 python -m benchmarks.deploy_aware.generate
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
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
    "latency_p50_ms",
    "latency_p95_ms",
    "batch_p95_ms",
    "size_mb",
    "fit_s",
    "load1",
)
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
    # Stages are the innermost axis of the grid, so each chain grows in order.
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
            "f1": f1_score(y, model.predict(x), average="macro"),
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
        "f1": f1_score(y, runner.predict(x), average="macro"),
        "latency_p50_ms": float(np.percentile(single, 50)),
        "latency_p95_ms": float(np.percentile(single, 95)),
        "batch_p95_ms": float(np.percentile(batch, 95)),
        "size_mb": served.size_int8_mb,
    }
    return out


def generate(task: str, calls: int) -> dict[str, Any]:
    """Write ``data/<task>.csv`` and return what the metadata file records for it."""
    x_train, x_hold, y_train, y_hold = split(task)
    started = time.time()
    load_before = os.getloadavg()
    rows = []
    for family in space.FAMILIES:
        for structure, model, fit_s in fitted_models(family, x_train, y_train):
            measured = measure_both(model, x_hold, y_hold, calls)
            for precision in space.PRECISIONS:
                row = dict.fromkeys(COLUMNS, "")
                row.update(structure, family=family, precision=precision, fit_s=fit_s)
                row.update(measured[precision], load1=os.getloadavg()[0])
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
        "wall_s": round(time.time() - started, 1),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "load1_min_median_max": [min(loads), float(np.median(loads)), max(loads)],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(space.TASKS), choices=space.TASKS)
    parser.add_argument("--calls", type=int, default=200, help="timed one-row calls per model")
    args = parser.parse_args(argv)
    meta_path = DATA_DIR / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"tasks": {}}
    meta["protocol"] = {
        "calls": args.calls,
        "warmup": WARMUP,
        "quality": "macro F1 on the holdout (1/3, stratified, seed 0)",
        "int8_timing": "to_onnx(quantize=True) graph timed with measure's loop (by hand)",
    }
    for task in args.tasks:
        meta["tasks"][task] = {
            **generate(task, args.calls),
            "machine": machine_info(["tunelab", "scikit-learn", "onnxruntime", "skl2onnx"]),
        }
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
