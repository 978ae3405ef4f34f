"""Optuna's private multi-objective helpers that plugins import, beside Optuna's own.

OptunaHub samplers and user code import ``optuna._hypervolume.compute_hypervolume``,
``optuna._hypervolume._solve_hssp`` and ``optuna.study._multi_objective``'s
dominance helpers; with ``import tunelab as optuna`` they must give Optuna's answers.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, optuna_ref


def _points(seed: int, n: int, m: int) -> np.ndarray:
    # Small integers: ties and duplicates, which is where the helpers can differ.
    return np.random.default_rng(seed).integers(0, 6, size=(n, m)).astype(float)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_helpers_are_reached_as_attributes(optuna: types.ModuleType) -> None:
    assert callable(optuna._hypervolume.compute_hypervolume)
    assert callable(optuna._hypervolume._solve_hssp)
    assert callable(optuna.study._multi_objective._is_pareto_front)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_compute_hypervolume_and_pareto_front_match(m: int, seed: int) -> None:
    points = _points(seed, 12, m)
    reference = np.full(m, 7.0)
    ours = tunelab._hypervolume.compute_hypervolume(points, reference)
    assert ours == optuna_ref._hypervolume.compute_hypervolume(points, reference)
    np.testing.assert_array_equal(
        tunelab.study._multi_objective._is_pareto_front(points, False),
        optuna_ref.study._multi_objective._is_pareto_front(points, False),
    )
    np.testing.assert_array_equal(
        tunelab.study._multi_objective._fast_non_domination_rank(points),
        optuna_ref.study._multi_objective._fast_non_domination_rank(points),
    )


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_compute_hypervolume_edges(optuna: types.ModuleType) -> None:
    compute = optuna._hypervolume.compute_hypervolume
    assert compute(np.empty((0, 3)), np.ones(3)) == 0.0
    assert compute(np.array([[1.0, math.inf]]), np.array([2.0, math.inf])) == math.inf
    with pytest.raises(ValueError):
        compute(np.array([[2.0, 2.0]]), np.ones(2))
    with pytest.raises(ValueError):
        compute(np.array([[1.0, 1.0]]), np.array([2.0, math.nan]))


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_penalty_ranks_infeasible_rows_after_feasible_ones(optuna: types.ModuleType) -> None:
    rank = optuna.study._multi_objective._fast_non_domination_rank
    losses = np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 0.0], [3.0, 3.0], [0.0, 0.0]])
    penalty = np.array([0.0, -1.0, 2.0, 0.0, 1.0])
    assert rank(losses, penalty=penalty).tolist() == [0, 0, 3, 1, 2]
    with pytest.raises(ValueError):
        rank(losses, penalty=penalty[:2])


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_solve_hssp_prefers_volume_and_distinct_points(optuna: types.ModuleType) -> None:
    points = np.array([[1.0, 4.0], [1.0, 4.0], [2.0, 2.0], [4.0, 1.0], [3.0, 3.0]])
    chosen = optuna._hypervolume._solve_hssp(points, np.arange(10, 15), 3, np.full(2, 5.0))
    assert sorted(chosen.tolist()) in ([10, 12, 13], [11, 12, 13])


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_pareto_front_trials_and_dominance(optuna: types.ModuleType) -> None:
    mo = optuna.study._multi_objective
    directions = [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    trials = [optuna.create_trial(values=v) for v in ([1, 1], [2, 2], [3, 1], [1, 1])]
    front = mo._get_pareto_front_trials_by_trials(trials, directions)
    assert [t.values for t in front] == [[1, 1], [2, 2], [1, 1]]
    assert mo._dominates(trials[1], trials[2], directions)
    assert not mo._dominates(trials[0], trials[3], directions)
    failed = optuna.create_trial(state=optuna.trial.TrialState.FAIL)
    assert mo._dominates(trials[2], failed, directions)
    assert mo._normalize_value(None, directions[1]) == math.inf


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_feasible_trials_count_unconstrained_ones(optuna: types.ModuleType) -> None:
    co = optuna.study._constrained_optimization
    key = co._CONSTRAINTS_KEY
    trials = [
        optuna.create_trial(values=[1.0, 1.0], system_attrs={key: [0.0]}),
        optuna.create_trial(values=[0.0, 0.0], system_attrs={key: [1.0]}),
        optuna.create_trial(values=[2.0, 0.5]),
    ]
    assert co._get_feasible_trials(trials) == [trials[0], trials[2]]
    assert co._is_constrained_optimization(trials)
    directions = [optuna.study.StudyDirection.MINIMIZE] * 2
    front = optuna.study._multi_objective._get_pareto_front_trials_by_trials(
        trials, directions, consider_constraint=True
    )
    assert front == [trials[0], trials[2]]
