"""Samplers take Optuna's constructor arguments, positional where Optuna's are."""

from __future__ import annotations

import importlib
import logging
import types
import typing
from pathlib import Path

import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, quiet


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet("ERROR")


pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _first_values(lib: types.ModuleType, sampler: object, n: int = 3) -> list[float]:
    study = lib.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)
    return [t.params["x"] for t in study.trials]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_seed_is_positional_as_in_optuna(lib: types.ModuleType) -> None:
    samplers = lib.samplers
    assert _first_values(lib, samplers.RandomSampler(7)) == _first_values(
        lib, samplers.RandomSampler(seed=7)
    )
    grid = {"x": [0.0, 0.25, 0.5, 0.75]}
    assert _first_values(lib, samplers.GridSampler(grid, 3)) == _first_values(
        lib, samplers.GridSampler(grid, seed=3)
    )
    study = lib.create_study(sampler=samplers.BruteForceSampler(5, True))
    study.optimize(lambda t: t.suggest_int("k", 0, 2), n_trials=5)
    assert sorted(t.params["k"] for t in study.trials) == [0, 1, 2]  # stopped when done


@pytest.mark.parametrize("lib", LIBRARIES)
def test_grid_sampler_says_when_every_point_has_run(lib: types.ModuleType) -> None:
    sampler = lib.samplers.GridSampler({"x": [1, 2, 3]}, seed=0)
    study = lib.create_study(sampler=sampler)
    assert not sampler.is_exhausted(study)
    trial = study.ask()
    trial.suggest_int("x", 1, 3)
    assert not sampler.is_exhausted(study)  # one point running, two never tried
    study.tell(trial, 0.0)
    study.optimize(lambda t: t.suggest_int("x", 1, 3), n_trials=1)
    assert not sampler.is_exhausted(study)
    study.optimize(lambda t: t.suggest_int("x", 1, 3), n_trials=1)
    assert sampler.is_exhausted(study)
    assert sorted(t.params["x"] for t in study.trials) == [1, 2, 3]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_gp_starts_modelling_at_once_with_no_startup_trials(lib: types.ModuleType) -> None:
    class Recording(lib.samplers.RandomSampler):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__(seed=0)
            self.numbers: list[int] = []

        def sample_independent(self, study: object, trial: object, *args: object) -> object:
            self.numbers.append(trial.number)  # type: ignore[attr-defined]
            return super().sample_independent(study, trial, *args)

    recording = Recording()
    sampler = lib.samplers.GPSampler(n_startup_trials=0, seed=0, independent_sampler=recording)
    study = lib.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=4)
    # Only the first trial, with nothing to model yet, is left to the independent sampler.
    assert recording.numbers == [0]


@pytest.mark.parametrize("warn", [True, False])
def test_gp_warns_once_about_parameters_it_leaves_to_the_independent_sampler(
    warn: bool, caplog: pytest.LogCaptureFixture
) -> None:
    def objective(trial: tunelab.Trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        if trial.number % 2:
            trial.suggest_float("extra", 0, 1)  # only in some trials: not modelled
        return x**2

    logger = logging.getLogger("tunelab")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="tunelab")
    try:
        sampler = tunelab.samplers.GPSampler(
            seed=0, n_startup_trials=2, warn_independent_sampling=warn
        )
        tunelab.create_study(sampler=sampler).optimize(objective, n_trials=8)
    finally:
        logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records if "'extra'" in r.getMessage()]
    assert len(messages) == (1 if warn else 0), messages


@pytest.mark.parametrize("lib", LIBRARIES)
def test_old_positional_calls_still_run_with_a_future_warning(
    lib: types.ModuleType, tmp_path: Path
) -> None:
    with pytest.warns(FutureWarning):
        sampler = lib.samplers.CmaEsSampler({"x": 0.9, "y": 0.9}, 0.01, 1, None, True, 0)
    study = lib.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=4)
    # x0 and sigma0 arrived: CMA-ES's first points sit close to (0.9, 0.9).
    for trial in study.trials[1:]:
        assert abs(trial.params["x"] - 0.9) < 0.1 and abs(trial.params["y"] - 0.9) < 0.1

    source = tmp_path / "notes.txt"
    source.write_text("hello")
    store = lib.artifacts.FileSystemArtifactStore(str(tmp_path))
    trial = study.ask()
    with pytest.warns(FutureWarning):
        artifact_id = lib.artifacts.upload_artifact(trial, str(source), store)
    assert [m.artifact_id for m in lib.artifacts.get_all_artifact_meta(trial)] == [artifact_id]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_tpe_multivariate_none_is_joint_for_one_objective_only(lib: types.ModuleType) -> None:
    def space(sampler: object, directions: list[str]) -> dict[str, object]:
        study = lib.create_study(sampler=sampler, directions=directions)
        study.optimize(
            lambda t: tuple(t.suggest_float(n, 0, 1) for n in "ab")[: len(directions)],
            n_trials=3,
        )
        trial = study.ask()
        return sampler.infer_relative_search_space(study, study._storage.get_trial(trial._trial_id))  # type: ignore[attr-defined]

    single = space(lib.samplers.TPESampler(multivariate=None, seed=0), ["minimize"])
    double = space(lib.samplers.TPESampler(multivariate=None, seed=0), ["minimize", "minimize"])
    assert sorted(single) == ["a", "b"] and double == {}


@pytest.mark.parametrize("lib", LIBRARIES)
def test_grid_takes_every_kind_of_grid_value(lib: types.ModuleType) -> None:
    grid_module = importlib.import_module(f"{lib.__name__}.samplers._grid")
    kinds = set(typing.get_args(grid_module.GridValueType))
    assert kinds == {str, float, int, bool, type(None)}
    values = ["a", 0.5, 3, True, None]
    sampler = lib.samplers.GridSampler({"v": values}, seed=0)
    study = lib.create_study(sampler=sampler)
    study.optimize(lambda t: float(t.suggest_categorical("v", values) is None), n_trials=5)
    seen = [t.params["v"] for t in study.trials]
    assert len(seen) == 5 and all(any(v is w for w in seen) for v in (True, None))
    assert {repr(v) for v in seen} == {repr(v) for v in values}
