"""Studies and trials: creation, suggestions, ask/tell, enqueue, best trials."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunelab as tl
from tunelab.space import FloatDistribution, IntDistribution
from tunelab.trial import TrialState


def test_create_study_validates_directions() -> None:
    with pytest.raises(ValueError, match="not both"):
        tl.create_study(direction="minimize", directions=["minimize"])
    with pytest.raises(ValueError, match="'sideways'"):
        tl.create_study(direction="sideways")
    with pytest.raises(ValueError, match="retry_failed"):
        tl.create_study(retry_failed=-1)
    with pytest.raises(ValueError, match="grace_period"):
        tl.create_study(heartbeat_interval=10, grace_period=5)
    assert tl.create_study(direction="MAXIMIZE").direction == tl.StudyDirection.MAXIMIZE


def test_create_load_delete_and_summaries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = tl.create_study(study_name="s", storage=url)
    with pytest.raises(tl.DuplicatedStudyError, match="'s'"):
        tl.create_study(study_name="s", storage=url)
    again = tl.create_study(study_name="s", storage=url, load_if_exists=True)
    assert again.study_name == "s"
    with pytest.raises(ValueError, match="directions"):
        tl.create_study(study_name="s", storage=url, load_if_exists=True, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert tl.load_study(storage=url).study_name == "s"
    (summary,) = tl.get_all_study_summaries(url)
    assert summary.n_trials == 3
    assert summary.best_values == [study.best_value]
    tl.delete_study(study_name="s", storage=url)
    assert tl.get_all_study_summaries(url) == []
    with pytest.raises(tl.StudyNotFoundError):
        tl.load_study(study_name="s", storage=url)


def test_same_name_returns_same_value_and_other_distribution_raises() -> None:
    study = tl.create_study()
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    assert trial.suggest_float("x", 0, 1) == x
    with pytest.warns(RuntimeWarning, match="'x'.*already suggested"):
        assert trial.suggest_float("x", 0, 2) == x
    with pytest.raises(ValueError, match="'x'.*already suggested"):
        trial.suggest_int("x", 0, 2)
    with pytest.raises(ValueError, match="'y'.*low"):
        trial.suggest_int("y", 5, 1)
    with pytest.raises(ValueError, match="'z'.*log"):
        trial.suggest_float("z", 0, 1, log=True)


def test_reused_distributions_keep_equal_but_differently_typed_arguments_apart() -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        assert type(trial.suggest_categorical("b", [True, False])) is bool
        assert type(trial.suggest_categorical("i", [1, 0])) is int
        assert type(trial.suggest_categorical("f", [1.0, 0.0])) is float
        assert trial.distributions["i"] != trial.distributions["b"]
        assert trial.suggest_float("x", 1, 2, log=True) >= 1.0
        study.tell(trial, 0.0)
    trial = study.ask()
    # A flag of the wrong type is still rejected once an equal-valued call was cached.
    with pytest.raises(ValueError, match="parameter 'x'.*log=1"):
        trial.suggest_float("x", 1, 2, log=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="parameter 'c'.*empty"):
        trial.suggest_categorical("c", [])


def test_snapshots_given_to_samplers_do_not_change_afterwards() -> None:
    seen = []

    class Recording(tl.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):  # type: ignore[no-untyped-def]
            seen.append(trial)
            return super().sample_independent(study, trial, name, distribution)

    study = tl.create_study(sampler=Recording(seed=1))
    trial = study.ask()
    trial.suggest_float("a", 0, 1)
    trial.suggest_float("b", 0, 1)
    trial.report(0.5, 0)
    trial.set_user_attr("k", 1)
    assert [set(t.params) for t in seen] == [set(), {"a"}]
    assert all(t.intermediate_values == {} and t.user_attrs == {} for t in seen)


def test_define_by_run_conditional_params() -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=0))

    def objective(trial: tl.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["linear", "tree"])
        if kind == "linear":
            return trial.suggest_float("alpha", 1e-4, 1, log=True)
        return float(trial.suggest_int("depth", 1, 8))

    study.optimize(objective, n_trials=30)
    for trial in study.trials:
        expected = {"kind", "alpha"} if trial.params["kind"] == "linear" else {"kind", "depth"}
        assert set(trial.params) == expected


def test_tell_complete_rejects_bad_values_and_leaves_trial_running() -> None:
    study = tl.create_study(directions=["minimize", "maximize"])
    trial = study.ask()
    for bad, message in [
        (1.0, "1 value"),
        ([1.0, math.nan], "NaN"),
        ([1.0, "x"], "not a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            study.tell(trial, bad, state=TrialState.COMPLETE)
    with pytest.raises(ValueError, match="needs the objective value"):
        study.tell(trial, state=TrialState.COMPLETE)
    assert study.trials[0].state == TrialState.RUNNING
    frozen = study.tell(trial.number, [1.0, 2.0])
    assert frozen.values == [1.0, 2.0]
    with pytest.raises(tl.UpdateFinishedTrialError):
        study.tell(trial, [1.0, 2.0])
    with pytest.raises(ValueError, match="takes no values"):
        study.tell(study.ask(), [1.0, 2.0], state=TrialState.FAIL)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(None, "no value"), (math.nan, "NaN"), ("x", "not a number"), ([1.0, 2.0], "2 value")],
)
def test_tell_without_state_fails_the_trial_on_bad_values_with_a_warning(
    bad: Any, reason: str
) -> None:
    # Optuna's rule: tell(trial, bad) stores a FAIL trial and warns, it does not raise.
    study = tl.create_study()
    trial = study.ask()
    with pytest.warns(UserWarning, match=reason):
        frozen = study.tell(trial, bad)
    assert frozen.state == TrialState.FAIL and frozen.values is None
    assert study.trials[0].state == TrialState.FAIL
    assert reason in (study.trials[0].fail_reason or "")


def test_tell_accepts_infinite_values_as_complete() -> None:
    study = tl.create_study(directions=["minimize", "maximize"])
    frozen = study.tell(study.ask(), [math.inf, -math.inf])
    assert frozen.state == TrialState.COMPLETE
    assert study.trials[0].values == [math.inf, -math.inf]


def test_tell_skip_if_finished_returns_the_stored_trial() -> None:
    study = tl.create_study()
    trial = study.ask()
    study.tell(trial, 1.0)
    again = study.tell(trial, 5.0, skip_if_finished=True)
    assert again.state == TrialState.COMPLETE and again.values == [1.0]
    with pytest.raises(ValueError):  # UpdateFinishedTrialError is a ValueError, as in Optuna
        study.tell(trial, 5.0)
    with pytest.raises(ValueError, match="no trial number 7"):
        study.tell(7, 1.0)


def test_tell_pruned_keeps_last_intermediate_value() -> None:
    study = tl.create_study()
    trial = study.ask()
    trial.report(0.9, 0)
    trial.report(0.7, 1)
    frozen = study.tell(trial, state=TrialState.PRUNED)
    assert frozen.state == TrialState.PRUNED
    assert frozen.values == [0.7]
    failed = study.tell(study.ask(), state=TrialState.FAIL, fail_reason="out of memory")
    assert study.trials[1].fail_reason == "out of memory" == failed.fail_reason


def test_report_validates_and_ignores_repeated_steps() -> None:
    trial = tl.create_study().ask()
    trial.report(1.0, 0)
    with pytest.warns(UserWarning, match="already reported step 0"):
        trial.report(2.0, 0)
    with pytest.raises(ValueError, match="step"):
        trial.report(1.0, -1)
    with pytest.raises(TypeError, match="number"):
        trial.report("high", 1)  # type: ignore[arg-type]


def test_ask_with_fixed_distributions_samples_eagerly() -> None:
    study = tl.create_study(sampler=tl.samplers.RandomSampler(seed=1))
    trial = study.ask({"x": FloatDistribution(0, 1), "n": IntDistribution(1, 3)})
    assert set(trial.params) == {"x", "n"}
    assert set(study.trials[0].params) == {"x", "n"}


def test_enqueued_params_are_used_first() -> None:
    study = tl.create_study()
    study.enqueue_trial({"x": 0.25, "kind": "b"}, user_attrs={"why": "baseline"})
    study.enqueue_trial({"x": 0.25, "kind": "b"}, skip_if_exists=True)
    seen = []

    def objective(trial: tl.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        seen.append((x, trial.suggest_categorical("kind", ["a", "b"])))
        return x

    study.optimize(objective, n_trials=2)
    assert seen[0] == (0.25, "b")
    assert study.trials[0].user_attrs == {"why": "baseline"}
    assert len(study.trials) == 2


def test_enqueued_value_outside_the_domain_is_used_with_a_warning() -> None:
    study = tl.create_study()
    study.enqueue_trial({"x": 5.0})
    with pytest.warns(UserWarning, match="enqueued value 5.0"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    first, second = study.trials
    assert first.state == TrialState.COMPLETE and first.params == {"x": 5.0}
    assert second.state == TrialState.COMPLETE and 0 <= second.params["x"] <= 1


def test_best_trial_follows_direction() -> None:
    values = [3.0, 1.0, 2.0]
    for direction, expected in [("minimize", 1.0), ("maximize", 3.0)]:
        study = tl.create_study(direction=direction)
        it = iter(values)
        study.optimize(lambda t, it=it: t.suggest_float("x", 0, 1) * 0 + next(it), n_trials=3)
        assert study.best_value == expected
        assert study.best_trial.values == [expected]
        assert set(study.best_params) == {"x"}
    with pytest.raises(ValueError, match="no completed trial"):
        _ = tl.create_study().best_trial


def test_best_trials_is_the_pareto_front() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((40, 2))
    study = tl.create_study(directions=["minimize", "maximize"])
    for p in points:
        study.tell(study.ask(), list(p))
    front = {t.number for t in study.best_trials}
    brute = {
        i
        for i, a in enumerate(points)
        if not any(
            b[0] <= a[0] and b[1] >= a[1] and (b[0] < a[0] or b[1] > a[1])
            for j, b in enumerate(points)
            if j != i
        )
    }
    assert front == brute and len(front) > 1
    with pytest.raises(RuntimeError, match="best_trials"):
        _ = study.best_trial


def test_trials_dataframe_has_one_row_per_trial() -> None:
    study = tl.create_study()

    def objective(trial: tl.Trial) -> float:
        trial.set_user_attr("tag", "t")
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=4)
    frame = study.trials_dataframe()
    assert len(frame) == 4
    assert {"number", "state", "value", "params_x", "user_attrs_tag", "duration"} <= set(frame)
    assert (frame["state"] == "COMPLETE").all()


def test_user_attrs_of_study_and_trial() -> None:
    study = tl.create_study()
    study.set_user_attr("owner", "ana")
    trial = study.ask()
    trial.set_user_attr("n", [1, 2])
    assert trial.user_attrs == {"n": [1, 2]}
    assert study.user_attrs == {"owner": "ana"}
    assert study.trials[0].user_attrs == {"n": [1, 2]}


def test_seeded_study_is_reproducible_on_any_storage(tmp_path: Path) -> None:
    def run(storage: str | None) -> list[dict[str, object]]:
        study = tl.create_study(storage=storage, sampler=tl.samplers.RandomSampler(seed=7))
        study.optimize(
            lambda t: t.suggest_float("x", -1, 1) + t.suggest_int("n", 0, 9), n_trials=15
        )
        return [t.params for t in study.trials]

    memory = run(None)
    assert memory == run(None)
    assert memory == run(f"sqlite:///{tmp_path / 'db.sqlite'}")
    other = tl.create_study(sampler=tl.samplers.RandomSampler(seed=8))
    other.optimize(lambda t: t.suggest_float("x", -1, 1) + t.suggest_int("n", 0, 9), n_trials=15)
    assert [t.params for t in other.trials] != memory


def test_logging_verbosity_is_adjustable() -> None:
    before = tl.logging.get_verbosity()
    try:
        tl.logging.set_verbosity(tl.logging.INFO)
        assert tl.logging.get_verbosity() == tl.logging.INFO
    finally:
        tl.logging.set_verbosity(before)


class _BrokenSampler(tl.samplers.RandomSampler):
    def before_trial(self, study: tl.StudyView, trial: tl.FrozenTrial) -> None:
        raise RuntimeError("cannot sample")


def test_a_sampler_error_fails_the_new_trial_instead_of_leaving_it_running() -> None:
    study = tl.create_study(sampler=_BrokenSampler())
    with pytest.raises(RuntimeError, match="cannot sample"):
        study.ask()
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    assert "the sampler failed: RuntimeError: cannot sample" in (trial.fail_reason or "")


def test_a_study_pickles_and_copies_as_a_handle(tmp_path: Path) -> None:
    import copy
    import pickle

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = tl.create_study(study_name="s", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert copy.deepcopy(study) is study
    clone = pickle.loads(pickle.dumps(study))
    clone.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(study.trials) == 3


def test_the_default_sampler_is_automatic() -> None:
    assert isinstance(tl.create_study().sampler, tl.samplers.AutoSampler)
