"""Re-running an objective on a finished trial, as Optuna's "re-use the best trial" recipe does."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest

import tunelab as tl


def _objective(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    layers = trial.suggest_int("layers", 1, 4)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    trial.report(x, 0)
    if trial.should_prune():
        raise tl.TrialPruned()
    return (x - 2) ** 2 + layers + (kind == "b")


@pytest.fixture(scope="module")
def study() -> tl.Study:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=15)
    return study


def test_the_objective_gives_the_stored_value_again(study: tl.Study) -> None:
    for trial in study.get_trials(states=(tl.TrialState.COMPLETE,)):
        assert _objective(trial) == trial.value


def test_a_missing_parameter_is_named(study: tl.Study) -> None:
    with pytest.raises(ValueError, match="parameter 'units' has no value in trial 3"):
        study.trials[3].suggest_int("units", 1, 8)


def test_a_changed_range_warns_and_a_changed_kind_is_refused(study: tl.Study) -> None:
    trial = study.trials[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trial.suggest_int("layers", 100, 200) == trial.params["layers"]
    assert any("outside" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="layers"):
        trial.suggest_categorical("layers", [1, 2])


def test_attributes_go_on_copies_never_on_the_stored_trial(study: tl.Study) -> None:
    best = copy.deepcopy(study.best_trial)
    best.set_user_attr("note", "retrained")
    assert best.user_attrs == {"note": "retrained"}
    study.best_trial.set_user_attr("note", "x")  # a deep copy, as Optuna's best_trial
    with pytest.raises(AttributeError, match="shared snapshot"):
        study.get_trials(deepcopy=False)[0].set_user_attr("note", "x")
    assert study.best_trial.user_attrs == {}
