"""Storage-side public API that Optuna code and plug-in test suites use, as Optuna has it."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, quiet
from tunelab.testing.storages import STORAGE_MODES, StorageSupplier


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet()


@pytest.mark.parametrize("lib", LIBRARIES)
def test_retry_callback_called_on_a_failed_trial_queues_it_again(
    lib: types.ModuleType, tmp_path: Path
) -> None:
    callback = lib.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
    storage = lib.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        heartbeat_interval=1,
        grace_period=2,
        heartbeat_stale_trial_callback=callback,
    )
    study = lib.create_study(storage=storage)
    dist = {"x": lib.distributions.FloatDistribution(-1, 1)}
    first = study.ask(dist)
    for _ in range(4):
        trial = study.ask(dist)  # the queued retry, while there is one
        study.tell(trial, state=lib.trial.TrialState.FAIL)
        callback(study, study.trials[trial.number])
    trials = study.trials
    xs = [t.params["x"] for t in trials]
    assert xs[1:4] == [xs[1]] * 3 and xs[4] != xs[1]  # two retries, then a new point
    assert lib.storages.RetryHeartbeatStaleTrialCallback.retry_history(trials[3]) == [1, 2]
    assert trials[-1].state == lib.trial.TrialState.WAITING
    assert trials[-1].params == {"x": xs[4]}
    study.tell(first, 0.0)
    study.optimize(lambda t: t.suggest_float("x", -1, 1), n_trials=1)
    assert study.trials[-1].params == {"x": xs[4]}


def test_storage_supplier_modes_and_optuna_storage_method_names() -> None:
    # Optuna's own StorageSupplier needs fakeredis, so this runs on tunelab's only.
    lib = tunelab
    for mode in STORAGE_MODES:
        with StorageSupplier(mode) as storage:
            study = lib.create_study(storage=storage, study_name="s")
            study.set_user_attr("u", 1)
            storage.set_study_system_attr(study._study_id, "k", [1])
            trial = study.ask()
            storage.set_trial_system_attr(trial._trial_id, "t", "v")
            trial.set_user_attr("a", 2)
            assert storage.get_study_user_attrs(study._study_id) == {"u": 1}
            assert storage.get_study_system_attrs(study._study_id)["k"] == [1]
            assert storage.get_trial_system_attrs(trial._trial_id)["t"] == "v"
            assert storage.get_trial_user_attrs(trial._trial_id) == {"a": 2}
            assert storage.get_trial_id_from_study_id_trial_number(study._study_id, 0) == (
                trial._trial_id
            )
            assert storage.get_trial_number_from_id(trial._trial_id) == 0


@pytest.mark.parametrize("lib", LIBRARIES)
def test_study_summaries_sort_by_creation(lib: types.ModuleType) -> None:
    storage = lib.storages.InMemoryStorage()
    for name in ("b", "a", "c"):
        lib.create_study(storage=storage, study_name=name)
    summaries = lib.get_all_study_summaries(storage)
    assert [s.study_name for s in sorted(reversed(summaries))] == ["b", "a", "c"]
    assert summaries[0] < summaries[1] and summaries[0] <= summaries[0]
    with pytest.raises(TypeError):
        summaries[0] < 1  # noqa: B015


@pytest.mark.parametrize("lib", LIBRARIES)
def test_intersection_search_space_follows_one_study(lib: types.ModuleType) -> None:
    space = lib.search_space.IntersectionSearchSpace()
    storage = lib.storages.InMemoryStorage()
    first, second = lib.create_study(storage=storage), lib.create_study(storage=storage)
    first.enqueue_trial({"x": 0.5}, {"note": "positional user_attrs"})
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert first.trials[0].user_attrs == {"note": "positional user_attrs"}
    assert list(space.calculate(first)) == ["x"]
    with pytest.raises(ValueError):
        space.calculate(second)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_objectives_write_through_trial_storage_and_frames_show_trial_ids(
    lib: types.ModuleType,
) -> None:
    def objective(trial: tunelab.Trial) -> float:
        trial.storage.set_trial_system_attr(trial._trial_id, "foo", "bar")
        return 1.0

    study = lib.create_study()
    study.optimize(objective, n_trials=2)
    frame = study.trials_dataframe(attrs=("number", "_trial_id", "system_attrs"))
    assert list(frame.trial_id) == [t._trial_id for t in study.trials]
    assert list(frame.system_attrs_foo) == ["bar", "bar"]
