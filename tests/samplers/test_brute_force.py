"""BruteForceSampler and PartialFixedSampler: Optuna's two wrappers-of-a-space."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

import tunelab as tl
from tests.samplers.contract import SamplerContract
from tunelab.samplers import (
    BaseSampler,
    BruteForceSampler,
    PartialFixedSampler,
    RandomSampler,
    TPESampler,
)
from tunelab.space import CategoricalDistribution, FloatDistribution


def _conditional(trial: Any) -> float:
    # Optuna's documented example: a branch, a stepped float, a range that depends on a value.
    kind = trial.suggest_categorical("c", ["float", "int"])
    if kind == "float":
        return float(trial.suggest_float("x", 1, 3, step=0.5))
    a = trial.suggest_int("a", 1, 3)
    return float(a + trial.suggest_int("b", a, 3))


def _combinations(study: Any) -> list[tuple[tuple[str, Any], ...]]:
    return sorted(tuple(sorted(t.params.items())) for t in study.trials)


@pytest.mark.parametrize("seed", [0, 1, 2, None])
@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "sqlite"])
def test_every_combination_once_then_the_study_stops(
    seed: int | None, on_disk: bool, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'bf.db'}" if on_disk else None
    study = tl.create_study(sampler=BruteForceSampler(seed=seed), storage=storage)
    study.optimize(_conditional, n_trials=100)
    # 5 floats, then a in 1..3 with b in a..3: 3 + 2 + 1.
    assert len(study.trials) == 11
    assert len(set(_combinations(study))) == 11


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_covers_the_same_combinations_as_optuna() -> None:
    ours = tl.create_study(sampler=BruteForceSampler(seed=3))
    ours.optimize(_conditional, n_trials=100)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    theirs = optuna.create_study(sampler=optuna.samplers.BruteForceSampler(seed=3))
    theirs.optimize(_conditional, n_trials=100)
    assert _combinations(ours) == _combinations(theirs)


def test_random_sampling_is_not_exhaustive() -> None:
    # The check above must be able to fail: a sampler without memory repeats points.
    study = tl.create_study(sampler=RandomSampler(seed=0))
    study.optimize(_conditional, n_trials=11)
    assert len(set(_combinations(study))) < 11


def test_trials_asked_together_get_different_points() -> None:
    study = tl.create_study(sampler=BruteForceSampler(seed=0))
    space = {"x": CategoricalDistribution([0, 1]), "y": CategoricalDistribution(["a", "b"])}
    trials = [study.ask(space) for _ in range(4)]
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    for trial in trials:
        study.tell(trial, 0.0)
    assert len(study.trials) == 4


def test_a_continuous_float_is_refused_by_name() -> None:
    study = tl.create_study(sampler=BruteForceSampler())
    with pytest.raises(ValueError, match="'lr' is a continuous float"):
        study.ask({"lr": FloatDistribution(1e-4, 1e-1, log=True)})


class TestPartialFixedContract(SamplerContract):
    """Fixing a parameter the objective never asks leaves the base sampler's behaviour."""

    model_based = True

    def make_sampler(self, seed: int | None) -> BaseSampler:
        return PartialFixedSampler({"unused": 1}, TPESampler(seed=seed))


def test_fixed_parameters_stay_fixed_and_the_rest_are_searched() -> None:
    sampler = PartialFixedSampler({"x": 2.0}, TPESampler(seed=0, n_startup_trials=5))
    study = tl.create_study(sampler=sampler)
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 5) - 1) ** 2 + t.suggest_float("y", -3, 3) ** 2,
        n_trials=30,
    )
    assert {t.params["x"] for t in study.trials} == {2.0}
    assert len({t.params["y"] for t in study.trials}) == 30
    # The base sampler models y only, so it still homes in on y = 0.
    assert abs(study.best_params["y"]) < 0.5
    assert "x" not in sampler.infer_relative_search_space(study._view, study.trials[-1])


def test_a_fixed_value_outside_its_range_is_kept_with_a_warning() -> None:
    study = tl.create_study(sampler=PartialFixedSampler({"x": 9.0}, RandomSampler(seed=0)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(lambda t: t.suggest_float("x", 0, 5), n_trials=1)
    assert study.trials[0].params == {"x": 9.0}
    assert any("'x' = 9.0 is outside" in str(w.message) for w in caught)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="fixed_params must be a dict"):
        PartialFixedSampler([("x", 1)], RandomSampler())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="base_sampler must be a sampler"):
        PartialFixedSampler({"x": 1}, "tpe")  # type: ignore[arg-type]


def test_constraints_come_from_the_base_sampler() -> None:
    def constraints(trial: tl.FrozenTrial) -> list[float]:
        return [trial.params["x"] - 1.0]

    base = RandomSampler(seed=0)
    base.constraints_func = constraints
    study = tl.create_study(sampler=PartialFixedSampler({"y": 0}, base))
    study.optimize(lambda t: t.suggest_float("x", 0, 2) + t.suggest_int("y", 0, 3), n_trials=5)
    for trial in study.trials:
        assert trial.system_attrs["constraints"] == [trial.params["x"] - 1.0]
