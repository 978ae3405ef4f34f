"""Public behaviour that Optuna 5.1's own test suite found differing, checked beside Optuna.

Each test here failed before the matching fix (see benchmarks/optuna_test_suite.py).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.optuna_compat.libraries import LIBRARIES


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_copy_study_to_an_empty_name(optuna: types.ModuleType) -> None:
    # "" is a name: only None means "keep the source's name".
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="foo", storage=storage)
    optuna.copy_study(
        from_study_name="foo", from_storage=storage, to_storage=storage, to_study_name=""
    )
    assert sorted(optuna.get_all_study_names(storage)) == ["", "foo"]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_frozen_trial_fields_exist_on_the_class(optuna: types.ModuleType) -> None:
    frozen = optuna.trial.FrozenTrial
    for name in ("number", "params", "distributions", "user_attrs", "system_attrs"):
        assert hasattr(frozen, name)
    trial = optuna.create_trial(value=1.0)
    with mock.patch.object(frozen, "system_attrs", new_callable=mock.PropertyMock) as attrs:
        attrs.return_value = {"patched": True}
        assert trial.system_attrs == {"patched": True}
    assert trial.system_attrs == {}


@pytest.mark.parametrize("optuna", LIBRARIES)
@pytest.mark.parametrize("include_best_trial", [True, False])
def test_study_summaries_carry_the_best_trial(
    optuna: types.ModuleType, include_best_trial: bool
) -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_int("x", 0, 3), n_trials=4)
    optuna.create_study(storage=storage, directions=["minimize", "minimize"])
    single, multi = optuna.get_all_study_summaries(storage, include_best_trial)
    assert single._study_id == study._study_id
    assert single.direction == optuna.study.StudyDirection.MAXIMIZE
    if include_best_trial:
        assert single.best_trial is not None
        assert single.best_trial.number == study.best_trial.number
    else:
        assert single.best_trial is None
    assert multi.best_trial is None


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_enqueued_value_outside_the_range_is_used_with_a_warning(
    optuna: types.ModuleType,
) -> None:
    study = optuna.create_study()
    study.enqueue_trial({"x": 11})
    with pytest.warns(UserWarning):
        study.optimize(lambda trial: trial.suggest_int("x", -10, 10), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert study.trials[0].params == {"x": 11}


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_grid_value_outside_the_range_is_used_with_a_warning(optuna: types.ModuleType) -> None:
    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"a": [110]}))
    with pytest.warns(UserWarning):
        study.optimize(lambda trial: trial.suggest_int("a", 0, 100))
    assert [t.params for t in study.trials] == [{"a": 110}]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_progress_bar_without_a_budget_warns(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    with pytest.warns(UserWarning):
        study.optimize(
            lambda trial: 1.0,
            show_progress_bar=True,
            callbacks=[lambda study, trial: study.stop()],
        )


def _storages(optuna: types.ModuleType, tmp_path: Path) -> list[Any]:
    journal = optuna.storages.journal.JournalFileBackend(str(tmp_path / f"{optuna.__name__}.log"))
    return [
        optuna.storages.InMemoryStorage(),
        optuna.storages.RDBStorage(f"sqlite:///{tmp_path / optuna.__name__}.db"),
        optuna.storages.JournalStorage(journal),
    ]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_create_new_trial_copies_a_template_trial(optuna: types.ModuleType, tmp_path: Path) -> None:
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    state = optuna.trial.TrialState
    templates = [
        optuna.create_trial(
            value=0.5,
            params={"x": 0.25},
            distributions={"x": dist},
            user_attrs={"u": 1},
            intermediate_values={0: 1.0, 3: 0.75},
        ),
        optuna.create_trial(state=state.PRUNED, params={"x": 0.5}, distributions={"x": dist}),
        optuna.create_trial(state=state.FAIL),
    ]
    for storage in _storages(optuna, tmp_path):
        study = optuna.create_study(storage=storage)
        for template in templates:
            storage.create_new_trial(study._study_id, template_trial=template)
        copies = study.trials
        assert [t.state for t in copies] == [state.COMPLETE, state.PRUNED, state.FAIL]
        assert copies[0].value == 0.5 and copies[0].params == {"x": 0.25}
        assert copies[0].intermediate_values == {0: 1.0, 3: 0.75}
        assert copies[0].user_attrs == {"u": 1}
        assert copies[1].params == {"x": 0.5}
        assert [t.number for t in copies] == [0, 1, 2]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_tpe_takes_hyperopt_parameters_and_deprecated_arguments(
    optuna: types.ModuleType,
) -> None:
    tpe = optuna.samplers.TPESampler
    with pytest.warns(FutureWarning, match="hyperopt_parameters"):
        arguments = tpe.hyperopt_parameters()
    with pytest.warns(FutureWarning):
        sampler = tpe(**arguments, seed=0)
    assert arguments["gamma"](100) == 3
    with pytest.warns(FutureWarning):
        tpe(warn_independent_sampling=False)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: trial.suggest_float("x", 10, 20), n_trials=25)
    assert 10 <= study.best_value <= 20


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_a_parameter_keeps_its_kind_across_the_study(optuna: types.ModuleType) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.ask().suggest_float("x", 10, 20)
    with pytest.raises(ValueError):
        study.ask().suggest_int("x", 10, 20)
    study.ask().suggest_categorical("c", ["a", "b"])
    with pytest.raises(ValueError):
        study.ask().suggest_categorical("c", ["a", "b", "z"])
    # Another range of the same kind is fine.
    assert 0 <= study.ask().suggest_float("x", 0, 5) <= 5


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_every_suggestion_with_a_lowered_high_warns(optuna: types.ModuleType) -> None:
    study = optuna.create_study()
    for _ in range(2):
        with pytest.warns(UserWarning):
            value = study.ask().suggest_float("x", 0.0, 10.0, step=3.0)
        assert value in (0.0, 3.0, 6.0, 9.0)


def _relative_sampler(optuna: types.ModuleType) -> Any:
    float_dist = optuna.distributions.FloatDistribution

    class Relative(optuna.samplers.BaseSampler):
        """Samples x jointly from [5, 6] (and, wrongly, z outside its space)."""

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return {"x": float_dist(5, 6)}

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
            return {"x": 5.5, "z": 5.5}

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            return dist.low

    return Relative()


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_a_relative_value_answers_any_range_that_holds_it(optuna: types.ModuleType) -> None:
    study = optuna.create_study(sampler=_relative_sampler(optuna))
    assert study.ask().suggest_float("x", 0, 100) == 5.5
    assert study.ask().suggest_float("x", 0, 5) == 0.0
    with pytest.raises(ValueError):
        study.ask().suggest_int("x", 0, 100)
    with pytest.raises(ValueError):
        study.ask().suggest_float("z", 0, 10)
