"""Study and trial API beside Optuna's: create_trial, add_trial(s), copy_study, tell, report..."""

from __future__ import annotations

import math
import pickle
import time
import types
from pathlib import Path
from typing import Any

import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, optuna_ref
from tunelab.trial import TrialState


def _bad_trials(optuna: types.ModuleType) -> list[dict[str, Any]]:
    float_x = {"x": optuna.distributions.FloatDistribution(0, 1)}
    state = optuna.trial.TrialState
    return [
        {"value": 1.0, "values": [1.0]},
        {"state": state.COMPLETE},
        {"state": state.COMPLETE, "value": math.nan},
        {"state": state.FAIL, "value": 1.0},
        {"value": 1.0, "params": {"x": 0.5}},
        {"value": 1.0, "distributions": float_x},
        {"value": 1.0, "params": {"x": 2.0}, "distributions": float_x},
        {"value": 1.0, "params": {"x": "a"}, "distributions": float_x},
    ]


@pytest.mark.parametrize("case", range(8))
def test_create_trial_rejects_what_optuna_rejects(case: int) -> None:
    with pytest.raises(ValueError):
        optuna_ref.create_trial(**_bad_trials(optuna_ref)[case])
    with pytest.raises(ValueError):
        tunelab.create_trial(**_bad_trials(tunelab)[case])


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_add_trial_seeds_the_study_and_samplers_see_it(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    dist = optuna.distributions.FloatDistribution(-5, 5)
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 2.0},
            distributions={"x": dist},
            value=4.0,
            user_attrs={"source": "paper"},
            intermediate_values={0: 9.0, 1: 4.0},
        )
    )
    study.add_trials(
        [
            optuna.create_trial(params={"x": 1.0}, distributions={"x": dist}, value=1.0),
            optuna.create_trial(state=optuna.trial.TrialState.FAIL, params={}, distributions={}),
            optuna.create_trial(
                state=optuna.trial.TrialState.PRUNED,
                params={"x": -1.0},
                distributions={"x": dist},
                intermediate_values={0: 3.0},
            ),
        ]
    )
    trials = study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [str(t.state) for t in trials] == [
        "TrialState.COMPLETE",
        "TrialState.COMPLETE",
        "TrialState.FAIL",
        "TrialState.PRUNED",
    ]
    assert trials[0].user_attrs == {"source": "paper"}
    assert trials[0].intermediate_values == {0: 9.0, 1: 4.0}
    assert study.best_params == {"x": 1.0} and study.best_value == 1.0
    with pytest.raises(ValueError):  # a two-value trial in a one-objective study
        study.add_trial(
            optuna.create_trial(params={"x": 0.0}, distributions={"x": dist}, values=[1.0, 2.0])
        )
    assert len(study.trials) == 4
    # The relative sampler learns from the added trials.
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=2)
    study.sampler = sampler
    study.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2, n_trials=3)
    assert len(study.trials) == 7


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_add_waiting_trial_is_run_next(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    dist = optuna.distributions.IntDistribution(0, 9)
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.WAITING, params={"n": 7}, distributions={"n": dist}
        )
    )
    study.optimize(lambda t: t.suggest_int("n", 0, 9), n_trials=1)
    assert study.trials[0].params == {"n": 7}


def _filled_study(optuna: types.ModuleType, url: str) -> Any:
    study = optuna.create_study(study_name="src", storage=url, directions=["minimize", "maximize"])
    study.set_user_attr("team", "ml")
    study.set_metric_names(["loss", "acc"])

    def objective(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("twice", 2 * x)
        return x, 1 - x

    study.optimize(objective, n_trials=4)
    return study


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_copy_study_between_storages(optuna: types.ModuleType, tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'a.db'}"
    target_url = f"sqlite:///{tmp_path / 'b.db'}"
    source = _filled_study(optuna, source_url)
    optuna.copy_study(from_study_name="src", from_storage=source_url, to_storage=target_url)
    optuna.copy_study(
        from_study_name="src",
        from_storage=source_url,
        to_storage=target_url,
        to_study_name="copy2",
    )
    assert sorted(optuna.get_all_study_names(target_url)) == ["copy2", "src"]
    copied = optuna.load_study(study_name="src", storage=target_url)
    assert copied.directions == source.directions
    assert copied.user_attrs == {"team": "ml"}
    assert copied.metric_names == ["loss", "acc"]
    assert [(t.number, t.params, t.values, t.user_attrs) for t in copied.trials] == [
        (t.number, t.params, t.values, t.user_attrs) for t in source.trials
    ]
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.copy_study(from_study_name="src", from_storage=source_url, to_storage=target_url)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_get_trials_deepcopy_and_states(optuna: types.ModuleType) -> None:
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.5})
    copies = study.get_trials(deepcopy=True)
    copies[0].user_attrs["changed"] = True
    assert "changed" not in study.trials[0].user_attrs
    assert len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))) == 1
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 3


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_trial_report_accepts_integral_steps(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    trial = study.ask()
    trial.report(0.5, 1.0)
    trial.report(0.25, 2)
    with pytest.warns(UserWarning):
        trial.report(9.0, 1)  # a step is reported once; later values are ignored
    with pytest.raises(TypeError):
        trial.report(0.5, "three")
    with pytest.raises(TypeError):
        trial.report("high", 3)
    with pytest.raises(ValueError):
        trial.report(0.5, -1)
    assert study.tell(trial, 0.1).intermediate_values == {1: 0.5, 2: 0.25}


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_resuggesting_with_another_range_warns_and_keeps_the_first_value(
    optuna: types.ModuleType,
) -> None:
    trial = optuna.create_study().ask()
    x = trial.suggest_float("x", 0, 1)
    with pytest.warns(RuntimeWarning):
        assert trial.suggest_float("x", 0, 2) == x
    with pytest.raises(ValueError):
        trial.suggest_int("x", 0, 1)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_fixed_trial_runs_an_objective(optuna: types.ModuleType) -> None:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -1, 1)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return x if kind == "a" else -x

    assert objective(optuna.trial.FixedTrial({"x": 0.5, "kind": "b"})) == -0.5
    with pytest.raises(ValueError):
        objective(optuna.trial.FixedTrial({"x": 0.5}))
    with pytest.warns(UserWarning):
        objective(optuna.trial.FixedTrial({"x": 5.0, "kind": "a"}))


def test_trial_state_and_direction_print_like_optuna() -> None:
    for state in TrialState:
        assert str(state) == str(optuna_ref.trial.TrialState[state.name])
        assert state.value == optuna_ref.trial.TrialState[state.name].value
    for direction in tunelab.study.StudyDirection:
        assert str(direction) == str(optuna_ref.study.StudyDirection[direction.name])


def test_load_missing_study_is_a_key_error_with_a_clear_message() -> None:
    with pytest.raises(KeyError) as info:
        tunelab.load_study(study_name="nope", storage=tunelab.storages.InMemoryStorage())
    assert isinstance(info.value, tunelab.exceptions.StudyNotFoundError)
    assert "nope" in str(info.value) and not str(info.value).startswith("'")


def test_exceptions_module_has_optunas_names() -> None:
    names = [n for n in dir(optuna_ref.exceptions) if n.endswith(("Error", "Warning", "Pruned"))]
    assert len(names) >= 7
    for name in names:
        assert hasattr(tunelab.exceptions, name), name
    assert issubclass(tunelab.TrialPruned, tunelab.exceptions.OptunaError)
    assert issubclass(tunelab.exceptions.ExperimentalWarning, Warning)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("trial", optuna_ref.trial.__all__),
        ("study", optuna_ref.study.__all__),
        ("search_space", ["IntersectionSearchSpace", "intersection_search_space"]),
        ("storages", ["BaseStorage", "InMemoryStorage", "RDBStorage"]),
        (
            "logging",
            [n for n in dir(optuna_ref.logging) if not n.startswith("_") and n.islower()]
            + optuna_ref.logging.__all__,
        ),
    ],
)
def test_modules_expose_optunas_names(module: str, names: list[str]) -> None:
    ours = getattr(tunelab, module)
    wanted = [n for n in names if n not in {"annotations", "threading", "logging", "colorlog"}]
    wanted = [n for n in wanted if n not in {"create_default_formatter", "sys", "os"}]
    missing = [n for n in wanted if not hasattr(ours, n)]
    assert missing == []


@pytest.mark.timeout(60)
def test_rdb_storage_heartbeat_settings_fail_and_retry_a_dead_workers_trial(
    tmp_path: Path,
) -> None:
    # Optuna's recipe: the settings ride on the storage, the callback re-queues the trial.
    url = f"sqlite:///{tmp_path / 'h.db'}"
    callback = tunelab.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    storage = tunelab.storages.RDBStorage(
        url, heartbeat_interval=1, grace_period=2, heartbeat_stale_trial_callback=callback
    )
    study = tunelab.create_study(study_name="hb", storage=storage)
    dead = study.ask()
    x = dead.suggest_float("x", 0, 1)  # then its worker "dies": no heartbeat, no tell
    time.sleep(2.5)
    survivor = tunelab.load_study(study_name="hb", storage=url)
    retry = survivor.ask()
    assert retry.suggest_float("x", 0, 1) == x
    survivor.tell(retry, x)
    by_number = {t.number: t for t in survivor.get_trials()}
    assert by_number[dead.number].state == tunelab.trial.TrialState.FAIL
    assert "heartbeat" in (by_number[dead.number].fail_reason or "")
    finished = by_number[retry.number]
    retries = tunelab.storages.RetryHeartbeatStaleTrialCallback
    assert retries.retried_trial_number(finished) == dead.number
    assert retries.retry_history(finished) == [dead.number]


def test_rdb_storage_settings_are_checked_and_yield_to_create_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with pytest.raises(ValueError, match="accepts a RetryHeartbeatStaleTrialCallback only"):
        tunelab.storages.RDBStorage(url, heartbeat_stale_trial_callback=lambda s, t: None)
    with pytest.raises(ValueError, match="max_retry must be None or an integer"):
        tunelab.storages.RetryHeartbeatStaleTrialCallback(max_retry=-1)
    with pytest.warns(FutureWarning, match="RetryFailedTrialCallback is deprecated"):
        old = tunelab.storages.RetryFailedTrialCallback(max_retry=2)
    assert tunelab.storages.RDBStorage(url, failed_trial_callback=old).study_defaults == {
        "retry_failed": 2
    }
    with pytest.raises(ValueError, match="grace_period \\(1\\) must exceed"):
        tunelab.create_study(
            storage=tunelab.storages.RDBStorage(url, heartbeat_interval=5, grace_period=1)
        )
    storage = tunelab.storages.RDBStorage(url, heartbeat_interval=5)
    explicit = tunelab.create_study(storage=storage, heartbeat_interval=7)
    inherited = tunelab.create_study(storage=storage)
    assert explicit._settings["heartbeat_interval"] == 7
    assert inherited._settings["heartbeat_interval"] == 5


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_trials_added_with_deprecated_distributions_join_the_search_space(
    optuna: types.ModuleType,
) -> None:
    study = optuna.create_study()
    with pytest.warns(FutureWarning):
        old = optuna.distributions.UniformDistribution(0, 1)
    study.add_trial(optuna.create_trial(params={"x": 0.5}, distributions={"x": old}, value=1.0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study.trials[0].distributions["x"] == optuna.distributions.FloatDistribution(0, 1)
    space = optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False))
    assert list(space) == ["x"]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_pruning_calls_are_for_single_objective_studies(optuna: types.ModuleType) -> None:
    trial = optuna.create_study(directions=["minimize", "maximize"]).ask()
    with pytest.raises(NotImplementedError):
        trial.should_prune()
    with pytest.raises(NotImplementedError):
        trial.report(1.0, 0)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_enqueue_skip_if_exists_matches_nan_with_nan(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    study.enqueue_trial({"x": float("nan"), "k": "a"})
    study.enqueue_trial({"x": float("nan"), "k": "a"}, skip_if_exists=True)
    study.enqueue_trial({"x": 0.0, "k": "a"}, skip_if_exists=True)
    study.enqueue_trial({"x": float("nan")}, skip_if_exists=True)
    assert len(study.trials) == 3


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_a_queued_trial_cannot_be_told_before_it_is_asked(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    study.enqueue_trial({"x": 0.5})
    with pytest.raises(ValueError):
        study.tell(0, 1.0)
    assert study.trials[0].state == optuna.trial.TrialState.WAITING
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) == 0.5
    study.tell(0, 1.0)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("optuna", LIBRARIES)
def test_optimize_inside_an_objective_of_the_same_study_is_refused(
    optuna: types.ModuleType, n_jobs: int
) -> None:
    inner = optuna.create_study()

    def objective(trial: Any) -> float:
        with pytest.raises(RuntimeError):
            trial.study.optimize(lambda t: 0.0, n_trials=1)
        inner.optimize(lambda t: t.suggest_float("y", 0, 1), n_trials=1)  # another study: fine
        return trial.suggest_float("x", 0, 1)

    study = optuna.create_study()
    study.optimize(objective, n_trials=2, n_jobs=n_jobs, catch=())
    assert len(study.trials) == 2 and len(inner.trials) == 2


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_an_in_memory_study_pickles_and_resumes(optuna: types.ModuleType) -> None:
    # Optuna's FAQ saves an in-memory study with joblib.dump, which pickles it.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    restored = pickle.loads(pickle.dumps(study))
    assert [t.params for t in restored.trials] == [t.params for t in study.trials]
    restored.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(restored.trials) == 5 and len(study.trials) == 3  # a copy, not the same study
    assert restored.best_value == min(t.value for t in restored.trials)
