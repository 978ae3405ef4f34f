"""OptunaSearchCV: Optuna's search estimator, same signature and results, on tunelab studies."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import KFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier

import tunelab as tl
from tunelab.integration import OptunaSearchCV
from tunelab.pruners import MedianPruner
from tunelab.space import CategoricalDistribution, FloatDistribution, IntDistribution


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


def test_signature_matches_optunas() -> None:
    params = inspect.signature(OptunaSearchCV).parameters
    assert list(params)[:2] == ["estimator", "param_distributions"]
    expected = {
        "cv": None,
        "enable_pruning": False,
        "max_iter": 1000,
        "n_jobs": None,
        "n_trials": 10,
        "random_state": None,
        "refit": True,
        "return_train_score": False,
        "scoring": None,
        "study": None,
        "subsample": 1.0,
        "timeout": None,
        "verbose": 0,
        "callbacks": None,
        "catch": (),
    }
    for name, default in expected.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default, name
    assert np.isnan(params["error_score"].default)


def test_scores_are_the_cross_validated_scores_of_each_trial(iris: Any) -> None:
    X, y = iris
    cv = KFold(3, shuffle=True, random_state=0)
    search = OptunaSearchCV(
        DecisionTreeClassifier(random_state=0),
        {
            "max_depth": IntDistribution(1, 6),
            "criterion": CategoricalDistribution(["gini", "entropy"]),
        },
        cv=cv,
        n_trials=6,
        random_state=0,
        return_train_score=True,
    ).fit(X, y)
    assert search.n_trials_ == 6 and search.n_splits_ == 3
    results = search.cv_results_
    for trial, mean in zip(search.trials_, results["mean_test_score"], strict=True):
        model = DecisionTreeClassifier(random_state=0, **trial.params)
        assert mean == pytest.approx(cross_val_score(model, X, y, cv=cv).mean())
        assert trial.value == pytest.approx(mean)
    assert {"split0_test_score", "split2_train_score", "std_fit_time", "mean_score_time"} <= set(
        results
    )
    assert search.best_index_ == search.best_trial_.number
    assert search.best_score_ == max(results["mean_test_score"])
    assert search.best_estimator_.get_params()["max_depth"] == search.best_params_["max_depth"]
    np.testing.assert_array_equal(search.predict(X), search.best_estimator_.predict(X))
    assert search.score(X, y) == pytest.approx(search.best_estimator_.score(X, y))
    assert list(search.trials_dataframe()["number"]) == list(range(6))


def test_pruning_stops_partial_fit_trials_that_lag(iris: Any) -> None:
    X, y = iris
    study = tl.create_study(direction="maximize", pruner=MedianPruner(n_startup_trials=3))
    search = OptunaSearchCV(
        SGDClassifier(random_state=0),
        {"alpha": FloatDistribution(1e-6, 10.0, log=True)},
        cv=3,
        n_trials=20,
        max_iter=6,
        enable_pruning=True,
        study=study,
        refit=False,
    ).fit(X, y)
    states = [t.state for t in search.trials_]
    assert states.count(tl.TrialState.PRUNED) >= 3
    finished = [t for t in search.trials_ if t.state == tl.TrialState.COMPLETE]
    assert all(sorted(t.intermediate_values) == list(range(6)) for t in finished)
    pruned = [t for t in search.trials_ if t.state == tl.TrialState.PRUNED]
    assert all("mean_test_score" in t.user_attrs for t in pruned)


def test_subsample_callbacks_and_catch(iris: Any) -> None:
    X, y = iris
    seen: list[int] = []
    search = OptunaSearchCV(
        LogisticRegression(max_iter=500),
        {"C": FloatDistribution(1e-3, 1e3, log=True)},
        n_trials=3,
        subsample=0.5,
        random_state=1,
        n_jobs=2,
        callbacks=[lambda study, trial: seen.append(trial.number)],
    ).fit(X, y)
    assert len(search.sample_indices_) == 75 and np.all(np.diff(search.sample_indices_) > 0)
    assert sorted(seen) == [0, 1, 2]
    assert pickle.loads(pickle.dumps(search.best_estimator_)).score(X, y) == search.score(X, y)


def test_invalid_arguments_name_the_problem(iris: Any) -> None:
    X, y = iris
    with pytest.raises(TypeError, match="param_distributions must be a mapping"):
        OptunaSearchCV(LogisticRegression(), [("C", FloatDistribution(0.1, 1))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"param_distributions\['C'\] must be a distribution"):
        OptunaSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}).fit(X, y)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="needs an estimator with partial_fit"):
        OptunaSearchCV(
            LogisticRegression(), {"C": FloatDistribution(0.1, 1)}, enable_pruning=True
        ).fit(X, y)
    with pytest.raises(ValueError, match="max_iter must be > 0"):
        OptunaSearchCV(SGDClassifier(), {"alpha": FloatDistribution(0.1, 1)}, max_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="direction must be 'maximize'"):
        OptunaSearchCV(
            LogisticRegression(), {"C": FloatDistribution(0.1, 1)}, study=tl.create_study()
        ).fit(X, y)
