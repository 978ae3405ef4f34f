"""Optuna programs using a journal file and NSGA-III, run unchanged with tunelab and with Optuna."""

from __future__ import annotations

import math
import types
from pathlib import Path

import pytest

from tests.optuna_compat.libraries import LIBRARIES, quiet


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet()


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_two_workers_share_a_journal_file(optuna: types.ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "optuna_journal_storage.log")

    def objective(trial: object) -> float:
        x = trial.suggest_float("x", -10, 10)  # type: ignore[attr-defined]
        return (x - 2) ** 2

    # Each "worker" opens its own storage on the file, as separate processes would.
    first = optuna.create_study(
        study_name="shared",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path)),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    lock = optuna.storages.journal.JournalFileOpenLock(path)
    second = optuna.load_study(
        study_name="shared",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(path, lock_obj=lock)
        ),
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    for _ in range(3):
        first.optimize(objective, n_trials=4)
        second.optimize(objective, n_trials=4)
    reader = optuna.load_study(
        study_name="shared",
        storage=optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(path)),
    )
    assert [t.number for t in reader.trials] == list(range(24))
    assert reader.best_value == min(t.value for t in first.trials)
    assert [t.params for t in reader.trials] == [t.params for t in second.trials]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_nsga3_on_three_objectives(optuna: types.ModuleType) -> None:
    def objective(trial: object) -> tuple[float, float, float]:
        a = trial.suggest_float("a", 0, 1) * math.pi / 2  # type: ignore[attr-defined]
        b = trial.suggest_float("b", 0, 1) * math.pi / 2  # type: ignore[attr-defined]
        g = (trial.suggest_float("c", 0, 1) - 0.5) ** 2  # type: ignore[attr-defined]
        r = 1 + g
        return r * math.cos(a) * math.cos(b), r * math.cos(a) * math.sin(b), r * math.sin(a)

    sampler = optuna.samplers.NSGAIIISampler(population_size=20, dividing_parameter=4, seed=3)
    study = optuna.create_study(directions=["minimize"] * 3, sampler=sampler)
    study.optimize(objective, n_trials=300)
    front = [t.values for t in study.best_trials]
    assert len(front) >= 20
    late = [t.values for t in study.trials[-20:]]
    assert sum(math.dist(v, (0, 0, 0)) for v in late) / 20 < 1.05  # near the unit sphere
