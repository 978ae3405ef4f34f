"""Generate the committed tabular data the multi-fidelity benchmark replays.

Two kinds of file land in ``benchmarks/multi_fidelity/data/``:

* ``nn_<library>_<dataset>.npz``: per-epoch validation curves of small neural
  networks over a full grid of structure and regularisation settings, with the
  measured CPU seconds of every epoch. scikit-learn's ``MLPClassifier`` trains one
  epoch per ``partial_fit`` call; the PyTorch networks are built by
  :func:`tunelab.torch.build_mlp` and trained with AdamW. Data sets are those
  scikit-learn ships (digits, breast cancer, wine), split 2/3 train, 1/3 validation.
* ``lcdb.csv.gz``: the slice of LCDB's (Mohr et al., 2022) published learning
  curves the benchmark uses, read from the ``lcdb`` package's own CSV (its module
  is never imported: it needs openml).

Usage (a background job of ~20 CPU minutes for the networks; one BLAS thread so that
the measured seconds are single-core CPU time)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src:. \
        nice python -m benchmarks.multi_fidelity.generate [--only lcdb sklearn torch]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
EPOCHS = 27  # 3**3: Hyperband's and successive halving's rungs (1, 3, 9, 27) land on epochs

# scikit-learn MLPClassifier grid: 3 * 4 * 2 * 3 * 3 * 3 = 648 configurations.
SKLEARN_GRID: dict[str, list[Any]] = {
    "n_layers": [1, 2, 3],
    "width": [16, 32, 64, 128],
    "activation": ["relu", "tanh"],
    "alpha": [1e-5, 1e-3, 1e-1],
    "learning_rate_init": [3e-4, 1e-3, 1e-2],
    "batch_size": [16, 64, 256],
}
# PyTorch MLP grid: 3 * 2 * 2 * 2 * 3 * 2 * 2 = 288 configurations.
TORCH_GRID: dict[str, list[Any]] = {
    "n_layers": [1, 2, 3],
    "width": [32, 128],
    "activation": ["relu", "tanh"],
    "dropout": [0.0, 0.3],
    "weight_decay": [1e-5, 1e-3, 1e-1],
    "lr": [1e-3, 1e-2],
    "batch_size": [64, 128],
}
SKLEARN_DATASETS = ("digits", "breast_cancer", "wine")
TORCH_DATASETS = ("digits",)
# LCDB slice: the accuracy database, first outer/inner split, data sets with curves for
# at least this many learners.
LCDB_MIN_LEARNERS = 15


def grid_configs(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a grid, in a fixed order (the row order of the table)."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def _split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = getattr(datasets, f"load_{name}")
    x, y = loader(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x, y, test_size=1 / 3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_valid), y_train, y_valid


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    picked = np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)
    return float(-np.mean(np.log(picked)))


EpochRun = Callable[[dict[str, Any]], tuple[list[float], list[float], list[float]]]


def _sklearn_runner(dataset: str) -> EpochRun:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, x_valid, y_train, y_valid = _split(dataset)
    classes = np.unique(y_train)

    def run(config: dict[str, Any]) -> tuple[list[float], list[float], list[float]]:
        model = MLPClassifier(
            hidden_layer_sizes=(config["width"],) * config["n_layers"],
            activation=config["activation"],
            alpha=config["alpha"],
            learning_rate_init=config["learning_rate_init"],
            batch_size=config["batch_size"],
            random_state=0,
        )
        errors, losses, seconds = [], [], []
        for _ in range(EPOCHS):
            start = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.partial_fit(x_train, y_train, classes=classes)
            seconds.append(time.process_time() - start)
            proba = model.predict_proba(x_valid)
            errors.append(float(np.mean(classes[proba.argmax(1)] != y_valid)))
            losses.append(_log_loss(proba, y_valid))
        return errors, losses, seconds

    return run


def _torch_runner(dataset: str) -> EpochRun:
    import torch

    from tunelab.torch import MLPSpec, build_mlp

    x_train, x_valid, y_train, y_valid = _split(dataset)
    xt = torch.tensor(x_train, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.long)
    xv = torch.tensor(x_valid, dtype=torch.float32)
    n_classes = int(y_train.max()) + 1

    def run(config: dict[str, Any]) -> tuple[list[float], list[float], list[float]]:
        spec = MLPSpec(
            n_inputs=xt.shape[1],
            n_outputs=n_classes,
            hidden=(config["width"],) * config["n_layers"],
            activation=config["activation"],
            dropout=config["dropout"],
        )
        model = build_mlp(spec, seed=0)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
        )
        generator = torch.Generator().manual_seed(0)
        errors, losses, seconds = [], [], []
        for _ in range(EPOCHS):
            start = time.process_time()
            model.train()
            order = torch.randperm(len(xt), generator=generator)
            for begin in range(0, len(xt), config["batch_size"]):
                batch = order[begin : begin + config["batch_size"]]
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch])
                loss.backward()
                optimiser.step()
            seconds.append(time.process_time() - start)
            model.eval()
            with torch.no_grad():
                proba = torch.softmax(model(xv), dim=1).numpy()
            errors.append(float(np.mean(proba.argmax(1) != y_valid)))
            losses.append(_log_loss(proba, y_valid))
        return errors, losses, seconds

    return run


def generate_nn(library: str, dataset: str, grid: dict[str, list[Any]], runner: EpochRun) -> Path:
    """Train every grid configuration for :data:`EPOCHS` epochs and save the curves."""
    configs = grid_configs(grid)
    shape = (len(configs), EPOCHS)
    errors = np.zeros(shape, np.float32)
    losses = np.zeros(shape, np.float32)
    seconds = np.zeros(shape, np.float32)
    start = time.time()
    for i, config in enumerate(configs):
        errors[i], losses[i], seconds[i] = runner(config)
        if i % 50 == 0:
            print(
                f"{library}/{dataset}: {i}/{len(configs)} {time.time() - start:.0f} s", flush=True
            )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"nn_{library}_{dataset}.npz"
    np.savez_compressed(
        path,
        grid_names=np.array(list(grid)),
        grid_values=np.array([repr(grid[name]) for name in grid]),
        valid_error=errors,
        valid_logloss=losses,
        epoch_seconds=seconds,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB) in {time.time() - start:.0f} s")
    return path


def lcdb_directory() -> Path:
    """Where the installed ``lcdb`` package keeps its CSV files (without importing it)."""
    spec = importlib.util.find_spec("lcdb")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'lcdb' package is not installed: pip install lcdb")
    return Path(next(iter(spec.submodule_search_locations)))


def generate_lcdb() -> Path:
    """Extract the benchmark's slice of LCDB's accuracy curves into a small CSV."""
    import pandas as pd

    source = lcdb_directory() / "database-accuracy.csv"
    frame = pd.read_csv(
        source,
        usecols=[
            "openmlid",
            "learner",
            "size_train",
            "outer_seed",
            "inner_seed",
            "traintime",
            "score_valid",
        ],
    )
    frame = frame[(frame.outer_seed == 0) & (frame.inner_seed == 0)]
    frame = frame.dropna(subset=["score_valid", "traintime"])
    learners = frame.groupby("openmlid").learner.nunique()
    keep = learners[learners >= LCDB_MIN_LEARNERS].index
    frame = frame[frame.openmlid.isin(keep)]
    frame = frame[["openmlid", "learner", "size_train", "traintime", "score_valid"]]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "lcdb.csv.gz"
    frame.to_csv(path, index=False, float_format="%.5g")
    print(
        f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): {len(frame)} rows, "
        f"{frame.openmlid.nunique()} data sets"
    )
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["lcdb", "sklearn", "torch"], nargs="*")
    parser.add_argument("--datasets", nargs="*", help="scikit-learn data sets (default: all)")
    args = parser.parse_args(argv)
    parts = args.only or ["lcdb", "sklearn", "torch"]
    # Measured seconds are single-core CPU time: set OMP_NUM_THREADS=1 (and
    # OPENBLAS_NUM_THREADS=1) before starting, as BLAS threads would be summed.
    if "lcdb" in parts:
        generate_lcdb()
    if "sklearn" in parts:
        for dataset in args.datasets or SKLEARN_DATASETS:
            generate_nn("sklearn", dataset, SKLEARN_GRID, _sklearn_runner(dataset))
    if "torch" in parts:
        import torch

        # One thread: the measured epoch seconds are single-core CPU time, like scikit-learn's.
        torch.set_num_threads(1)
        for dataset in args.datasets or TORCH_DATASETS:
            generate_nn("torch", dataset, TORCH_GRID, _torch_runner(dataset))


if __name__ == "__main__":
    sys.exit(main())
