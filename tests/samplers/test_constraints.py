"""constraints_func (Optuna's semantics): stored as trials finish, steering samplers, best_trial.

A problem whose unconstrained optimum is infeasible: minimise the distance to
(2, 2) subject to x + y <= 1. The constrained optimum is x = y = 0.5 (value 4.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tunelab.samplers import BaseSampler, GPSampler, TPESampler
from tunelab.samplers._gp._acquisition import ConstrainedLogEI
from tunelab.samplers._gp._model import GaussianProcess, KernelParams, Prior
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


@pytest.mark.slow
def test_constrained_gp_finds_better_feasible_points_than_gp_ignoring_them() -> None:
    def runs(constrained: bool) -> list[tl.Study]:
        studies = []
        for seed in range(3):
            sampler = GPSampler(seed=seed, constraints_func=constraints if constrained else None)
            study = tl.create_study(sampler=sampler)
            study.optimize(distance, n_trials=20)
            studies.append(study)
        return studies

    for with_c, without in zip(runs(True), runs(False), strict=True):
        assert _best_feasible(with_c) < min(5.0, _best_feasible(without))
        late = [t.user_attrs["slack"] <= 0 for t in with_c.trials[-8:]]
        assert sum(late) >= 6


def test_constrained_acquisition_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    is_categorical = np.zeros(2, dtype=bool)
    x = rng.random((12, 2))
    params = KernelParams.from_theta(Prior.default(2, fit_noise=True).mean, 2)
    objective = GaussianProcess(x, rng.normal(size=12), is_categorical, params)
    constraint = GaussianProcess(x, x.sum(axis=1) - 1.0, is_categorical, params)
    for best in (0.1, None):
        acq = ConstrainedLogEI(objective, best, [(constraint, 0.2)])
        points = rng.random((5, 2))
        value, grad = acq.value_and_grad(points, np.arange(2))
        np.testing.assert_allclose(value, acq(points))
        for c in range(2):
            step = np.zeros(2)
            step[c] = 1e-6
            numeric = (acq(points + step) - acq(points - step)) / 2e-6
            np.testing.assert_allclose(grad[:, c], numeric, rtol=1e-4, atol=1e-6)
