"""What every executor does: a test class each executor's tests subclass.

A subclass provides an ``executor`` fixture returning a fresh executor with
at least two trials running at once (see test_contract.py; the Ray executor
joins the same way).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

import tunelab as tl
from tests.execution import objectives
from tunelab.execution import Executor
from tunelab.trial import TrialState


class _CountingPruner(tl.pruners.ThresholdPruner):
    """Prunes above 0.5 and counts its calls, which happen only where the study lives."""

    def __init__(self) -> None:
        super().__init__(upper=0.5)
        self.calls = 0
        self.pid = os.getpid()

    def prune(self, study: Any, trial: tl.FrozenTrial) -> bool:
        assert os.getpid() == self.pid
        self.calls += 1
        return bool(super().prune(study, trial))


class _CountingSampler(tl.samplers.RandomSampler):
    def __init__(self) -> None:
        super().__init__(seed=1)
        self.calls = 0

    def sample_independent(self, study: Any, trial: tl.FrozenTrial, name: str, dist: Any) -> Any:
        self.calls += 1
        return super().sample_independent(study, trial, name, dist)


@pytest.mark.slow
@pytest.mark.timeout(180)
class ExecutorContract:
    """The executor contract, in behaviour."""

    @pytest.fixture
    def executor(self) -> Executor:
        raise NotImplementedError

    def test_runs_n_trials_with_the_values_of_their_params(self, executor: Executor) -> None:
        sampler = _CountingSampler()
        study = tl.create_study(sampler=sampler)
        study.optimize(objectives.quadratic, n_trials=12, executor=executor)
        trials = study.trials
        assert len(trials) == 12
        for trial in trials:
            assert trial.state == TrialState.COMPLETE
            assert trial.value == pytest.approx((trial.params["x"] - 1) ** 2 + trial.params["n"])
        # Every suggestion was answered by the one sampler of this process.
        assert sampler.calls == 24

    def test_pruning_is_decided_where_the_study_lives(self, executor: Executor) -> None:
        pruner = _CountingPruner()
        study = tl.create_study(pruner=pruner, sampler=tl.samplers.RandomSampler(seed=3))
        study.optimize(objectives.stepwise, n_trials=12, executor=executor)
        trials = study.trials
        assert len(trials) == 12 and pruner.calls > 0
        for trial in trials:
            if trial.params["x"] > 0.5:
                assert trial.state == TrialState.PRUNED
                assert trial.intermediate_values == {0: trial.params["x"]}
            else:
                assert trial.state == TrialState.COMPLETE
                assert len(trial.intermediate_values) == 5

    def test_caught_errors_fail_their_trials_and_user_attrs_arrive(
        self, executor: Executor
    ) -> None:
        study = tl.create_study()
        study.optimize(objectives.labelled, n_trials=6, executor=executor, catch=(ValueError,))
        for trial in study.trials:
            assert "where" in trial.user_attrs
            if trial.number % 2:
                assert trial.state == TrialState.FAIL
                assert trial.fail_reason == f"ValueError: odd trial {trial.number}"
            else:
                assert trial.state == TrialState.COMPLETE

    def test_an_uncaught_error_fails_its_trial_and_is_raised(self, executor: Executor) -> None:
        study = tl.create_study()
        with pytest.raises(ValueError, match="odd trial"):
            study.optimize(objectives.labelled, n_trials=20, executor=executor)
        trials = study.trials
        assert len(trials) < 20  # no new trial started after the error
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        assert [t.state for t in trials if t.number % 2] and all(
            t.state == TrialState.FAIL for t in trials if t.number % 2
        )

    def test_each_grid_point_runs_exactly_once(self, executor: Executor) -> None:
        grid = {"a": [0, 1, 2, 3], "b": ["p", "q", "r"]}
        study = tl.create_study(sampler=tl.samplers.GridSampler(grid, seed=0))
        study.optimize(objectives.grid_point, n_trials=12, executor=executor)
        points = Counter((t.params["a"], t.params["b"]) for t in study.trials)
        assert len(points) == 12 and set(points.values()) == {1}

    def test_one_executor_serves_optimize_calls_in_turn(self, executor: Executor) -> None:
        study = tl.create_study()
        study.optimize(objectives.noop, n_trials=3, executor=executor)
        study.optimize(objectives.noop, n_trials=4, executor=executor)
        states = [t.state for t in study.trials]
        assert states == [TrialState.COMPLETE] * 7
