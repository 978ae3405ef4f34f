"""Trials handed to users are snapshots: nothing done to them changes the study.

Run on every storage (memory, SQLite, real PostgreSQL), through every way a
study hands trials out.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

import tunelab as tl
from tunelab.storage import BaseStorage
from tunelab.trial import FrozenTrial, TrialState


def _objective(trial: tl.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    trial.set_user_attr("nested", {"xs": [x, 2 * x]})
    trial.report(x, 0)
    return x * x


def _study(storage: BaseStorage) -> tl.Study:
    study = tl.create_study(storage=storage, sampler=tl.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=6)
    return study


ATTACKS: dict[str, Callable[[FrozenTrial], Any]] = {
    "values item": lambda t: t.values.__setitem__(0, -1e9),  # type: ignore[union-attr]
    "values append": lambda t: t.values.append(-1e9),  # type: ignore[union-attr]
    "values clear": lambda t: t.values.clear(),  # type: ignore[union-attr]
    "values +=": lambda t: t.values.__iadd__([1.0]),  # type: ignore[union-attr]
    "params item": lambda t: t.params.__setitem__("x", 99.0),
    "params update": lambda t: t.params.update(x=99.0),
    "params pop": lambda t: t.params.pop("x"),
    "params |=": lambda t: t.params.__ior__({"x": 99.0}),
    "distributions del": lambda t: t.distributions.__delitem__("x"),
    "intermediate item": lambda t: t.intermediate_values.__setitem__(0, -1e9),
    "user attr item": lambda t: t.user_attrs.__setitem__("new", 1),
    "nested user attr": lambda t: t.user_attrs["nested"]["xs"].__setitem__(0, -1e9),
    "nested user attr dict": lambda t: t.user_attrs["nested"].__setitem__("xs", []),
    "system attrs": lambda t: t.system_attrs.setdefault("fail_reason", "x"),
    "assign values": lambda t: setattr(t, "values", [-1e9]),
    "assign state": lambda t: setattr(t, "state", TrialState.FAIL),
    "delete params": lambda t: delattr(t, "params"),
}


def _shared(study: tl.Study) -> list[FrozenTrial]:
    """The storage's own snapshots, handed out without a copy (sealed)."""
    return [
        study.get_trials(deepcopy=False)[0],
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))[1],
        study.best_trials[0],
    ]


def test_changing_a_returned_trial_is_refused_or_changes_only_a_copy(
    storage: BaseStorage,
) -> None:
    study = _study(storage)
    before = [copy.deepcopy(t) for t in study.trials]
    best = study.best_value
    for trial in _shared(study):
        for name, attack in ATTACKS.items():
            with pytest.raises((TypeError, AttributeError)):
                attack(trial)
                pytest.fail(f"{name} changed a shared trial")
    # Deep copies (study.trials, best_trial, as Optuna's) are the caller's own to change.
    for trial in (
        study.trials[0],
        study.get_trials(states=(TrialState.COMPLETE,))[1],
        study.best_trial,
    ):
        for attack in ATTACKS.values():
            attack(trial)
    # Shallow copies (tell's result, copy.copy) take new fields; their containers stay shared.
    told = study.tell(study.ask(), 5.0)
    told.value = -1e9
    told.state = TrialState.FAIL
    assert study.get_trials(deepcopy=False)[-1].value == 5.0
    assert study.best_value == best
    assert study.trials[:-1] == before
    reloaded = tl.load_study(study_name=study.study_name, storage=storage)
    assert reloaded.trials[:-1] == before


def test_tell_and_callbacks_hand_out_trials_with_read_only_containers(
    storage: BaseStorage,
) -> None:
    seen: list[FrozenTrial] = []
    study = tl.create_study(storage=storage, sampler=tl.samplers.RandomSampler(seed=1))
    study.optimize(_objective, n_trials=3, callbacks=[lambda s, t: seen.append(t)])
    trial = study.ask()
    trial.suggest_float("x", -1.0, 1.0)
    told = study.tell(trial, 0.5)
    for frozen in [*seen, told]:
        with pytest.raises(TypeError):
            frozen.values[0] = -1e9  # type: ignore[index]
        frozen.set_user_attr("mine", 1)  # on the copy only, as in Optuna
    assert all("mine" not in t.user_attrs for t in study.get_trials(deepcopy=False))
    assert study.best_value >= 0.0


def test_frozen_trial_works_like_optuna_s_for_reading(storage: BaseStorage) -> None:
    trial = _study(storage).best_trials[0]
    x = trial.params["x"]
    assert dict(trial.params) == {"x": x} and trial.params == {"x": x}
    assert trial.values == [trial.value] and list(trial.values) == [x * x]  # type: ignore[arg-type]
    assert json.loads(json.dumps(trial.user_attrs)) == {"nested": {"xs": [x, 2 * x]}}
    for clone in (pickle.loads(pickle.dumps(trial)), copy.copy(trial)):
        assert clone == trial
        assert type(clone.params) is type(trial.params)
        with pytest.raises(TypeError):
            clone.params["x"] = 0.0
    private = copy.deepcopy(trial)
    assert private == trial
    private.params["x"] = 0.0
    private.user_attrs["nested"]["xs"].append(1.0)
    assert trial.params["x"] == x and trial.user_attrs["nested"]["xs"] == [x, 2 * x]
    mutable = dict(trial.params)
    mutable["x"] = 0.0  # copies are the user's own to change
    assert trial.params["x"] == x


def test_a_trial_added_to_a_study_is_copied_in(storage: BaseStorage) -> None:
    params: dict[str, Any] = {"x": 0.5}
    attrs: dict[str, Any] = {"a": [1, 2]}
    trial = tl.trial.create_trial(
        value=3.0,
        params=params,
        distributions={"x": tl.distributions.FloatDistribution(0, 1)},
        user_attrs=attrs,
    )
    study = tl.create_study(storage=storage)
    study.add_trial(trial)
    trial.params["x"] = 0.9
    trial.user_attrs["a"].append(3)
    trial.value = 4.0
    stored = study.get_trials(deepcopy=False)[0]
    assert (stored.params, stored.user_attrs, stored.value) == ({"x": 0.5}, {"a": [1, 2]}, 3.0)
