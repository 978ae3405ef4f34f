"""constraints_func (Optuna's semantics): stored as trials finish, steering samplers, best_trial.

A problem whose unconstrained optimum is infeasible: minimise the distance to
(2, 2) subject to x + y <= 1. The constrained optimum is x = y = 0.5 (value 4.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import tunelab as tl
from tunelab.samplers import BaseSampler, TPESampler
from tunelab.trial import FrozenTrial, Trial, TrialState

SEEDS = range(5)
N_TRIALS = 80


def distance(trial: Trial) -> float:
    x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
    trial.set_user_attr("slack", x + y - 1)
    return (x - 2) ** 2 + (y - 2) ** 2


def constraints(trial: FrozenTrial) -> list[float]:
    return [trial.user_attrs["slack"]]


def _runs(make: Callable[[int], BaseSampler]) -> list[tl.Study]:
    studies = []
    for seed in SEEDS:
        study = tl.create_study(sampler=make(seed))
        study.optimize(distance, n_trials=N_TRIALS)
        studies.append(study)
    return studies


def _best_feasible(study: tl.Study) -> float:
    return min(
        (t.value for t in study.trials if t.user_attrs["slack"] <= 0 and t.value is not None),
        default=float("inf"),
    )


def _late_feasible(study: tl.Study) -> int:
    return sum(t.user_attrs["slack"] <= 0 for t in study.trials[-N_TRIALS // 2 :])


@pytest.mark.slow
def test_constrained_tpe_finds_better_feasible_points_than_tpe_ignoring_them() -> None:
    constrained = _runs(lambda s: TPESampler(seed=s, constraints_func=constraints))
    plain = _runs(lambda s: TPESampler(seed=s))
    for with_c, without in zip(constrained, plain, strict=True):
        assert _best_feasible(with_c) < _best_feasible(without)
        assert _late_feasible(with_c) > 2 * _late_feasible(without)
        assert with_c.best_value == _best_feasible(with_c) < 5.0  # near the optimum, 4.5


def test_constraints_are_stored_when_trials_finish_and_best_trial_is_feasible() -> None:
    sampler = TPESampler(seed=0, constraints_func=constraints)
    study = tl.create_study(sampler=sampler)
    study.optimize(distance, n_trials=30)
    for trial in study.trials:
        assert trial.system_attrs["constraints"] == [trial.user_attrs["slack"]]
    infeasible = [t for t in study.trials if t.user_attrs["slack"] > 0]
    assert infeasible and min(t.value for t in infeasible) < study.best_value  # type: ignore[type-var]
    assert study.best_trial.user_attrs["slack"] <= 0
    assert study.best_trials == [study.best_trial]


def test_tell_returns_the_stored_constraints_and_best_trial_wants_a_feasible_one() -> None:
    sampler = TPESampler(seed=0, constraints_func=lambda t: [t.params["x"] - 0.5])
    study = tl.create_study(sampler=sampler)
    trial = study.ask()
    trial.suggest_float("x", 0.9, 1.0)
    frozen = study.tell(trial, 1.0)
    assert frozen.system_attrs["constraints"] == [pytest.approx(frozen.params["x"] - 0.5)]
    assert frozen.constraint_violation == pytest.approx(frozen.params["x"] - 0.5)
    with pytest.raises(ValueError, match="no feasible completed trial"):
        _ = study.best_trial
    assert study.best_trials == []


def test_failed_trials_get_no_constraints_and_a_broken_function_is_reported() -> None:
    study = tl.create_study(sampler=TPESampler(seed=0, constraints_func=lambda t: ["x"]))
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    assert "constraints" not in study.trials[0].system_attrs
    trial = study.ask()
    with pytest.raises(ValueError, match="constraints_func must return a sequence of numbers"):
        study.tell(trial, 1.0)
    assert study.trials[1].state == TrialState.COMPLETE  # finished as told all the same


@pytest.mark.parametrize("kwargs", [{"constraints_func": 3}, {"constraints_func": "f"}])
def test_constraints_func_must_be_callable(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="constraints_func must be callable"):
        TPESampler(**kwargs)
