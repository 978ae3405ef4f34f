"""QMCSampler takes Optuna's arguments: sequence kind, scrambling, independent sampler."""

from __future__ import annotations

import logging
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, quiet


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet("ERROR")


def _qmc(lib: types.ModuleType, **kwargs: object) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's is experimental
        return lib.samplers.QMCSampler(**kwargs)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_qmc_type_is_checked(lib: types.ModuleType) -> None:
    with pytest.raises(ValueError):
        _qmc(lib, qmc_type="lattice")


@pytest.mark.parametrize("lib", LIBRARIES)
@pytest.mark.parametrize("qmc_type", ["sobol", "halton"])
def test_unscrambled_sequences_cover_a_grid_evenly(lib: types.ModuleType, qmc_type: str) -> None:
    study = lib.create_study(sampler=_qmc(lib, qmc_type=qmc_type, scramble=False, seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=17)
    # The first trial is drawn at random (no space known yet); the rest follow the sequence,
    # so the 16 after it fall one per cell of a 4 x 4 grid (Sobol) or nearly (Halton).
    points = np.array([[t.params["x"], t.params["y"]] for t in study.trials[1:]])
    cells = {(int(x * 4), int(y * 4)) for x, y in points}
    assert len(cells) >= (16 if qmc_type == "sobol" else 13)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_parameters_outside_the_joint_space_go_to_the_independent_sampler(
    lib: types.ModuleType,
) -> None:
    chosen: list[str] = []

    class Recorder(lib.samplers.RandomSampler):  # type: ignore[name-defined,misc]
        def sample_independent(self, study, trial, name, distribution):  # type: ignore[no-untyped-def]
            chosen.append(name)
            return super().sample_independent(study, trial, name, distribution)

    def objective(trial: tunelab.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number > 0:
            trial.suggest_float("late", 0, 1)
        return x

    sampler = _qmc(lib, independent_sampler=Recorder(seed=0), seed=0)
    lib.create_study(sampler=sampler).optimize(objective, n_trials=4)
    assert chosen == ["x", "late", "late", "late"]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_running_trials_give_the_space_before_any_finishes(lib: types.ModuleType) -> None:
    sampler = _qmc(lib, seed=0)
    study = lib.create_study(sampler=sampler)
    running = study.ask()
    running.suggest_float("a", 1, 10)
    running.suggest_int("b", 0, 3)
    trial = study.ask()
    assert set(sampler.infer_relative_search_space(study, trial)) == {"a", "b"}


def test_unseeded_scrambling_is_warned_about_once_and_only_for_shared_storages(
    tmp_path: Path,
) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("tunelab.samplers._qmc")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # the fixture quiets tunelab's logger below that
    try:
        tunelab.create_study(sampler=tunelab.samplers.QMCSampler()).optimize(_xy, n_trials=3)
        assert records == []  # one process shares one sampler: nothing to warn about
        storage = tunelab.storages.JournalStorage(
            tunelab.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))
        )
        study = tunelab.create_study(storage=storage, sampler=tunelab.samplers.QMCSampler())
        study.optimize(_xy, n_trials=3)
        assert len(records) == 1 and "seed" in records[0].getMessage()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def _xy(trial: tunelab.Trial) -> float:
    return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1)
