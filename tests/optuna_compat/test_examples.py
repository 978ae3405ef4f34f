"""Optuna-style programs, run unchanged with ``import tunelab as optuna`` and with Optuna.

Each program is a function of the ``optuna`` module it runs against, written the
way Optuna's tutorials and examples write them. The test runs it with both
libraries and checks what a user of either would observe.
"""

from __future__ import annotations

import logging
import math
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.svm import SVC

import tunelab
from tests.optuna_compat.libraries import LIBRARIES, optuna_ref, quiet


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet()


def quickstart(optuna: types.ModuleType) -> Any:
    x, y = load_iris(return_X_y=True)

    def objective(trial: Any) -> float:
        c = trial.suggest_float("C", 1e-3, 1e2, log=True)
        kernel = trial.suggest_categorical("kernel", ["linear", "rbf"])
        return float(cross_val_score(SVC(C=c, kernel=kernel), x, y, cv=3).mean())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(objective, n_trials=12)
    return study


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_quickstart(optuna: types.ModuleType) -> None:
    study = quickstart(optuna)
    assert len(study.trials) == 12
    assert set(study.best_params) == {"C", "kernel"}
    assert study.best_value > 0.9
    assert study.best_trial.value == study.best_value
    assert str(study.best_trial.state) == "TrialState.COMPLETE"


def sgd_pruning(optuna: types.ModuleType, pruner: Any = None, n_trials: int = 30) -> Any:
    x, y = load_iris(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, random_state=0)
    classes = np.unique(y)

    def objective(trial: Any) -> float:
        alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
        clf = SGDClassifier(alpha=alpha, random_state=0)
        for step in range(10):
            clf.partial_fit(x_train, y_train, classes=classes)
            score = clf.score(x_valid, y_valid)
            trial.report(score, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(clf.score(x_valid, y_valid))

    kwargs = {} if pruner is None else {"pruner": pruner}
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), **kwargs
    )
    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.mark.slow
def test_pruning_example_prunes_with_the_default_pruner_as_optuna_does() -> None:
    # The default pruner is MedianPruner in both: the same program prunes
    # a comparable share of its trials (it pruned none while tunelab had no default).
    counts = {}
    for lib in (tunelab, optuna_ref):
        study = sgd_pruning(lib)
        states = [t.state for t in study.trials]
        counts[lib.__name__] = sum(s == lib.trial.TrialState.PRUNED for s in states)
        assert isinstance(study.pruner, lib.pruners.MedianPruner)
        pruned = study.get_trials(deepcopy=False, states=(lib.trial.TrialState.PRUNED,))
        assert all(t.value == t.intermediate_values[t.last_step] for t in pruned)
    assert counts["optuna"] >= 2
    assert counts["tunelab"] >= max(2, counts["optuna"] // 2), counts


@pytest.mark.slow
@pytest.mark.parametrize("optuna", LIBRARIES)
def test_explicit_median_pruner_and_nop_pruner(optuna: types.ModuleType) -> None:
    pruned = sgd_pruning(optuna, optuna.pruners.MedianPruner()).get_trials(
        states=(optuna.trial.TrialState.PRUNED,)
    )
    assert len(pruned) >= 2
    never = sgd_pruning(optuna, optuna.pruners.NopPruner(), n_trials=8)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in never.trials)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_multi_objective(optuna: types.ModuleType) -> None:
    def objective(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 5)
        y = trial.suggest_float("y", 0, 3)
        return 4 * x**2 + 4 * y**2, (x - 5) ** 2 + (y - 5) ** 2

    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=0)
    )
    study.optimize(objective, n_trials=20)
    assert len(study.directions) == 2
    front = study.best_trials
    assert front and all(len(t.values) == 2 for t in front)
    for a in front:  # nothing on the front is dominated by another trial
        assert not any(
            all(b <= c for b, c in zip(o.values, a.values, strict=True)) and o.values != a.values
            for o in study.trials
        )
    with pytest.raises(RuntimeError):
        _ = study.best_trial
    study.set_metric_names(["energy", "distance"])
    assert study.metric_names == ["energy", "distance"]
    frame = study.trials_dataframe()
    assert {"values_energy", "values_distance"} <= set(frame.columns)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_ask_and_tell(optuna: types.ModuleType) -> None:
    study = optuna.create_study(direction="maximize")
    distributions = {
        "x": optuna.distributions.FloatDistribution(-1, 1),
        "n": optuna.distributions.IntDistribution(1, 4),
    }
    for _ in range(5):
        trial = study.ask(distributions)
        assert set(trial.params) == {"x", "n"}
        study.tell(trial, -(trial.params["x"] ** 2) + trial.params["n"])
    trial = study.ask()
    y = trial.suggest_float("y", 0, 1)
    frozen = study.tell(trial, y)
    assert frozen.state == optuna.trial.TrialState.COMPLETE
    assert study.tell(trial, 0.5, skip_if_finished=True).value == y
    with pytest.raises(ValueError):
        study.tell(trial, 0.5)
    # Telling a pruned trial keeps its last intermediate value, as Optuna does.
    trial = study.ask()
    trial.report(0.25, 0)
    trial.report(0.75, 1)
    assert study.tell(trial, state=optuna.trial.TrialState.PRUNED).value == 0.75
    # Infinity is a value; NaN fails the trial with a warning.
    assert study.tell(study.ask(), math.inf).state == optuna.trial.TrialState.COMPLETE
    with pytest.warns(UserWarning):
        assert study.tell(study.ask(), math.nan).state == optuna.trial.TrialState.FAIL


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_enqueue_trial_and_user_attrs(optuna: types.ModuleType) -> None:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10, 10)
        trial.set_user_attr("double", 2 * x)
        return (x - 2) ** 2

    study = optuna.create_study()
    study.enqueue_trial({"x": 2.0}, user_attrs={"source": "expert"})
    study.enqueue_trial({"x": 2.0}, skip_if_exists=True)
    study.set_user_attr("owner", "me")
    study.optimize(objective, n_trials=4)
    first = study.trials[0]
    assert first.params == {"x": 2.0} and first.value == 0.0
    assert first.user_attrs == {"source": "expert", "double": 4.0}
    assert study.best_trial.number == 0
    assert study.user_attrs == {"owner": "me"}
    assert len(study.trials) == 4


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_callbacks_and_max_trials_callback(optuna: types.ModuleType) -> None:
    seen: list[tuple[int, str]] = []

    def record(study: Any, trial: Any) -> None:
        seen.append((trial.number, str(trial.state)))

    def objective(trial: Any) -> float:
        x = trial.suggest_int("x", 0, 10)
        if x % 2:
            raise optuna.TrialPruned()
        return x

    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    stop = optuna.study.MaxTrialsCallback(3, states=(optuna.trial.TrialState.COMPLETE,))
    study.optimize(objective, n_trials=50, callbacks=[record, stop])
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 3
    assert [n for n, _ in seen] == [t.number for t in study.trials]
    assert {s for _, s in seen} <= {"TrialState.COMPLETE", "TrialState.PRUNED"}


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_rdb_storage_resume(optuna: types.ModuleType, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'example.db'}"

    def objective(trial: Any) -> float:
        return trial.suggest_float("x", -10, 10) ** 2

    study = optuna.create_study(study_name="resume", storage=url)
    study.optimize(objective, n_trials=3)
    again = optuna.create_study(study_name="resume", storage=url, load_if_exists=True)
    again.optimize(objective, n_trials=2)
    loaded = optuna.load_study(study_name="resume", storage=url)
    assert [t.number for t in loaded.trials] == [0, 1, 2, 3, 4]
    assert optuna.get_all_study_names(url) == ["resume"]
    storage = optuna.storages.RDBStorage(url)
    assert len(optuna.load_study(study_name="resume", storage=storage).trials) == 5
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(study_name="resume", storage=url)
    try:
        optuna.load_study(study_name="missing", storage=url)
    except KeyError:  # the usual guard in Optuna scripts
        pass
    else:
        pytest.fail("load_study of a missing study did not raise KeyError")
    optuna.delete_study(study_name="resume", storage=url)
    assert optuna.get_all_study_names(url) == []


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_trials_dataframe_columns(optuna: types.ModuleType) -> None:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        trial.set_user_attr("note", kind * 2)
        return x

    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=3)
    frame = study.trials_dataframe()
    assert list(frame.columns) == [
        "number",
        "value",
        "datetime_start",
        "datetime_complete",
        "duration",
        "params_kind",
        "params_x",
        "user_attrs_note",
        "state",
    ]
    assert list(frame["state"]) == ["COMPLETE"] * 3
    nested = study.trials_dataframe(attrs=("number", "params"), multi_index=True)
    assert list(nested.columns) == [("number", ""), ("params", "kind"), ("params", "x")]
    assert optuna.create_study().trials_dataframe().empty


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_logging_verbosity(optuna: types.ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    optuna.logging.set_verbosity(optuna.logging.INFO)
    assert optuna.logging.get_verbosity() == optuna.logging.INFO
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.INFO):
            optuna.create_study().optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert sum("Trial" in r.getMessage() for r in caplog.records) >= 2
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        caplog.clear()
        optuna.create_study().optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert not [r for r in caplog.records if r.levelno < logging.WARNING]
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.enable_default_handler()
        optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_seeded_tpe_sampler_is_reproducible(optuna: types.ModuleType) -> None:
    def run() -> list[float]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=7))
        study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=15)
        return [t.params["x"] for t in study.trials]

    assert run() == run()


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_old_style_objective_with_deprecated_suggestions(optuna: types.ModuleType) -> None:
    def objective(trial: Any) -> float:
        a = trial.suggest_uniform("a", 0, 1)
        b = trial.suggest_loguniform("b", 1e-3, 1)
        c = trial.suggest_discrete_uniform("c", 0, 1, 0.25)
        assert trial.study is not None and trial.datetime_start is not None
        return a + b + c

    study = optuna.create_study()
    with pytest.warns(FutureWarning):
        study.optimize(objective, n_trials=2)
    params = study.trials[0].params
    assert study.trials[0].distributions["c"] == optuna.distributions.FloatDistribution(
        0, 1, step=0.25
    )
    assert params["c"] in (0, 0.25, 0.5, 0.75, 1.0)
