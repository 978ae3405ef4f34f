"""FrozenTrial you build or copy changes like Optuna's; the study's own snapshots do not."""

from __future__ import annotations

import copy
import datetime as dt
import types
import warnings

import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES


def _trial(lib: types.ModuleType) -> object:
    return lib.trial.create_trial(
        value=0.25,
        params={"x": 1.0},
        distributions={"x": lib.distributions.FloatDistribution(0, 2)},
    )


@pytest.mark.parametrize("lib", LIBRARIES)
def test_fields_can_be_reassigned_and_validated(lib: types.ModuleType) -> None:
    trial = _trial(lib)
    other = copy.copy(trial)
    assert other == trial
    other.value = 0.5  # type: ignore[attr-defined]
    other.number = 3  # type: ignore[attr-defined]
    assert other != trial and trial.value == 0.25  # type: ignore[attr-defined]
    assert trial < other and trial <= other and not other < trial  # type: ignore[operator]
    with pytest.raises(TypeError):
        trial < 1  # type: ignore[operator]  # noqa: B015
    other.values = (0.1,)  # type: ignore[attr-defined]
    assert other.values == [0.1]  # type: ignore[attr-defined]
    other.params = {"x": 1.5}  # type: ignore[attr-defined]
    assert other.suggest_float("x", 0, 2) == 1.5  # type: ignore[attr-defined]
    other._validate()  # type: ignore[attr-defined]
    other.params = {"x": 5.0}  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        other._validate()  # type: ignore[attr-defined]
    broken = copy.copy(trial)
    broken.state = lib.trial.TrialState.RUNNING  # type: ignore[attr-defined]
    with pytest.raises(ValueError):  # RUNNING with datetime_complete
        broken._validate()  # type: ignore[attr-defined]
    multi = lib.trial.create_trial(values=[1.0, 2.0])
    with pytest.raises(RuntimeError):
        multi.value = 0.1


@pytest.mark.parametrize("lib", LIBRARIES)
def test_positional_construction_and_value_or_values(lib: types.ModuleType) -> None:
    now = dt.datetime.now()
    state = lib.trial.TrialState.COMPLETE
    trial = lib.trial.FrozenTrial(0, state, 0.5, now, now, {}, {}, {}, {}, {}, 7)
    assert (trial.number, trial.state, trial.values) == (0, state, [0.5])
    with pytest.raises(ValueError):
        lib.trial.FrozenTrial(0, state, 0.5, now, now, {}, {}, {}, {}, {}, 7, values=[0.5])


@pytest.mark.parametrize("lib", LIBRARIES)
def test_create_trial_constraints(lib: types.ModuleType) -> None:
    dist = {"x": lib.distributions.FloatDistribution(0, 2)}
    trial = lib.trial.create_trial(
        value=1.0, params={"x": 1.0}, distributions=dist, constraints={"cost": 1.5, "cap": -2}
    )
    assert trial.constraints == {"cost": 1.5, "cap": -2.0}
    with pytest.raises(TypeError):
        lib.trial.create_trial(value=1.0, constraints={"cost": "high"})
    with pytest.raises(ValueError):
        lib.trial.create_trial(value=1.0, constraints={"cost": float("nan")})
    study = lib.create_study()
    study.add_trial(trial)
    study.add_trial(lib.trial.create_trial(value=2.0, constraints={"cost": -1.0, "cap": 0.0}))
    assert study.best_trial.value == 2.0  # the feasible one, though worse


@pytest.mark.parametrize("lib", LIBRARIES)
def test_deprecated_distributions_warn_when_converted(lib: types.ModuleType) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = lib.distributions.UniformDistribution(low=0, high=10)
    with pytest.warns(FutureWarning, match="issues/2941"):
        trial = lib.trial.create_trial(value=1.0, params={"u": 1.0}, distributions={"u": old})
    assert trial.distributions == {"u": lib.distributions.FloatDistribution(0, 10)}


def test_copies_handed_out_change_without_changing_the_study() -> None:
    study = tunelab.create_study(sampler=tunelab.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    stored = study.get_trials(deepcopy=False)[0]
    for mine in (study.best_trial, study.trials[0], copy.copy(stored), study.tell(study.ask(), 9)):
        mine.value = -1.0
        mine.set_user_attr("note", 1)
    with pytest.raises(AttributeError, match="shared snapshot"):
        stored.value = -1.0
    assert all(t.value != -1.0 and not t.user_attrs for t in study.get_trials(deepcopy=False))


def test_set_constraint_in_the_objective_steers_best_trial() -> None:
    def objective(trial: tunelab.Trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        trial.set_constraint("positive", -x)  # feasible when x >= 0
        assert trial.constraints == {"positive": -x}
        return x

    study = tunelab.create_study(sampler=tunelab.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=20)
    assert study.best_trial.params["x"] >= 0
    assert any(t.params["x"] < 0 for t in study.trials)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_an_objective_setting_constraints_runs_on_a_fixed_trial(lib: types.ModuleType) -> None:
    trial = lib.trial.FixedTrial({"x": 0.5})
    trial.set_constraint("cap", trial.suggest_float("x", 0, 1) - 1)
    assert trial.constraints == {"cap": -0.5}
    with pytest.raises(TypeError):
        trial.set_constraint("cap", "high")


@pytest.mark.parametrize("kind", ["Trial", "FixedTrial", "FrozenTrial"])
@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_constraint_keeps_its_first_value(lib: types.ModuleType, kind: str) -> None:
    if kind == "Trial":
        study = lib.create_study()
        trial = study.ask()
    elif kind == "FixedTrial":
        trial = lib.trial.FixedTrial({})
    else:
        trial = lib.trial.create_trial(value=1.0)
    trial.set_constraint("cap", 1.0)
    with pytest.warns(UserWarning, match="cap"):
        trial.set_constraint("cap", 2.0)
    trial.set_constraint("other", -1.0)
    assert trial.constraints == {"cap": 1.0, "other": -1.0}
    if kind == "Trial":
        study.tell(trial, 0.0)
        assert study.trials[0].constraints == {"cap": 1.0, "other": -1.0}
