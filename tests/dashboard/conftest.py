"""Studies with every kind of trial, and a dashboard serving them on a loopback port."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

import tunelab as tl
from tunelab.dashboard import DashboardThread
from tunelab.samplers import RandomSampler
from tunelab.storage import BaseStorage, SQLStorage

API_KEY = "s3cret-key"


def fill(storage: BaseStorage, name: str = "demo", n_trials: int = 40) -> tl.Study:
    """A study of complete, pruned and failed trials with learning curves, one left running."""
    # The objective never asks the pruner: only its stored rungs show (at steps 1, 2, 4).
    study = tl.create_study(
        study_name=name,
        storage=storage,
        sampler=RandomSampler(seed=1),
        pruner=tl.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    )

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", -4, 4)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        depth = trial.suggest_int("depth", 1, 8)
        for step in range(5):
            trial.report((x - 1) ** 2 + 1 / (step + 1), step)
        if trial.number % 9 == 4:
            raise tl.TrialPruned()
        if trial.number % 11 == 7:
            raise RuntimeError(f"diverged at lr={lr:.3g}")
        return (x - 1) ** 2 + (kind == "b") + 0.01 * depth + math.log10(lr) ** 2 / 10

    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    running = study.ask()
    running.suggest_float("x", -4, 4)
    return study


def multi(storage: BaseStorage, name: str = "pair") -> tl.Study:
    """A two-objective study."""
    study = tl.create_study(
        study_name=name,
        storage=storage,
        directions=["minimize", "maximize"],
        sampler=RandomSampler(seed=2),
    )

    def objective(trial: tl.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        return x + y, x - y**2

    study.optimize(objective, n_trials=30)
    study.set_user_attr("picked_trial", {"number": study.best_trials[0].number, "model": "m"})
    return study


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file holding the 'demo' and 'pair' studies."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'studies.db'}"
    storage = SQLStorage(url)
    fill(storage)
    multi(storage)
    storage.close()
    return url


@pytest.fixture(scope="module")
def server(sqlite_url: str) -> Iterator[DashboardThread]:
    """The dashboard over the SQLite file, writable with :data:`API_KEY`."""
    with DashboardThread(sqlite_url, api_key=API_KEY) as running:
        yield running
