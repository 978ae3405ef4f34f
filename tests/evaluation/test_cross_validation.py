"""tunelab.evaluate and tunelab.compare: folds, scores, intervals, pruning, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import tunelab as tl
from tunelab.trial import TrialState


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=300, n_features=8, random_state=0)


def test_fold_scores_equal_scikit_learn(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    model = LogisticRegression(max_iter=500)
    names = ["accuracy", "f1", "roc_auc", "neg_log_loss", "balanced_accuracy"]
    ev = tl.evaluate(model, X, y, cv=5, metrics=names)
    ref = cross_validate(model, X, y, cv=5, scoring=names)
    for name in names:
        np.testing.assert_allclose(ev.scores(name), ref[f"test_{name}"], rtol=1e-10)
    assert ev.mean("f1") == pytest.approx(ref["test_f1"].mean())
    assert ev.mean() == pytest.approx(ref["test_accuracy"].mean())
    assert (ev.fit_times > 0).all() and (ev.score_times > 0).all()
    ci = ev.interval("roc_auc")
    assert ci.low < ev.mean("roc_auc") < ci.high


def test_regression_metrics_and_out_of_fold_predictions() -> None:
    X, y = load_diabetes(return_X_y=True)
    ev = tl.evaluate(Ridge(), X, y, cv=4, metrics=["r2", "neg_mean_absolute_error"])
    oof = ev.out_of_fold()
    assert oof.shape == y.shape
    # Each fold's model predicted its own test rows.
    for fold in ev.folds:
        np.testing.assert_array_equal(oof[fold.test_index], fold.predictions)
    assert ev.mean("neg_mean_absolute_error") < 0
    rows = ev.summary()
    assert [r["metric"] for r in rows] == ["r2", "neg_mean_absolute_error"]


def test_splitters_groups_and_repeated_cv(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    groups = np.arange(len(y)) % 6
    ev = tl.evaluate(DecisionTreeClassifier(random_state=0), X, y, cv=GroupKFold(3), groups=groups)
    for fold in ev.folds:
        assert len(set(groups[fold.test_index])) == 2
    splitter = StratifiedKFold(3, shuffle=True, random_state=1)
    again = tl.evaluate(DecisionTreeClassifier(random_state=0), X, y, cv=list(splitter.split(X, y)))
    assert len(again.folds) == 3
    repeated = tl.evaluate(LogisticRegression(), X, y, cv=_repeated())
    with pytest.raises(ValueError, match="exactly once"):
        repeated.out_of_fold()


def _repeated() -> object:
    from sklearn.model_selection import RepeatedStratifiedKFold

    return RepeatedStratifiedKFold(n_splits=2, n_repeats=2, random_state=0)


def test_unknown_metric_lists_close_matches(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(ValueError, match="f1_macro"):
        tl.evaluate(LogisticRegression(), X, y, metrics="f1_macr")
    ev = tl.evaluate(LogisticRegression(), X, y, metrics="accuracy")
    with pytest.raises(KeyError, match="'f1' was not evaluated"):
        ev.mean("f1")


def test_evaluate_prunes_hopeless_configurations_after_the_first_folds() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    study = tl.create_study(
        direction="maximize",
        pruner=tl.pruners.MedianPruner(n_startup_trials=2),
    )
    study.enqueue_trial({"model": "tree"})
    study.enqueue_trial({"model": "tree"})
    study.enqueue_trial({"model": "dummy"})

    def objective(trial: tl.Trial) -> float:
        kind = trial.suggest_categorical("model", ["tree", "dummy"])
        model = (
            DecisionTreeClassifier(random_state=0)
            if kind == "tree"
            else DummyClassifier(strategy="constant", constant=0)
        )
        return tl.evaluate(model, X, y, cv=5, metrics="f1").mean("f1")

    study.optimize(objective, n_trials=3)
    tree_a, tree_b, dummy = study.trials
    assert tree_a.state == tree_b.state == TrialState.COMPLETE
    assert sorted(tree_a.intermediate_values) == [0, 1, 2, 3]
    assert dummy.state == TrialState.PRUNED
    assert list(dummy.intermediate_values) == [0]


def test_compare_finds_the_better_model_on_shared_splits() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    result = tl.compare(
        make_pipeline(StandardScaler(), LogisticRegression()),
        DummyClassifier(strategy="most_frequent"),
        X,
        y,
        metric="accuracy",
    )
    assert result.better == "a"
    assert result.difference > 0.3
    assert result.ttest.p_value < 1e-3
    assert result.mcnemar is not None and result.mcnemar.better == "a"
    for fold_a, fold_b in zip(result.a.folds, result.b.folds, strict=True):
        np.testing.assert_array_equal(fold_a.test_index, fold_b.test_index)
    assert "model a is better" in str(result)


def test_compare_identical_models_finds_no_difference(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    result = tl.compare(LogisticRegression(), LogisticRegression(), X, y)
    assert result.better is None
    assert result.difference == 0
    assert result.mcnemar is not None and result.mcnemar.p_value == 1.0
    assert "no significant difference" in str(result)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_evaluate_reports_in_the_study_s_direction_so_the_best_trials_survive(
    direction: str,
) -> None:
    # A minimize study of log loss: the good model must never be pruned, the
    # hopeless one must be, whichever way the objective is written.
    X, y = load_breast_cancer(return_X_y=True)
    study = tl.create_study(direction=direction, pruner=tl.pruners.MedianPruner(n_startup_trials=2))
    for kind in ["good", "good", "dummy", "good", "dummy", "dummy"]:
        study.enqueue_trial({"model": kind})
    sign = -1.0 if direction == "minimize" else 1.0

    def objective(trial: tl.Trial) -> float:
        kind = trial.suggest_categorical("model", ["good", "dummy"])
        model = (
            make_pipeline(StandardScaler(), LogisticRegression())
            if kind == "good"
            else DummyClassifier(strategy="prior")
        )
        return sign * tl.evaluate(model, X, y, cv=4, metrics="neg_log_loss").mean()

    study.optimize(objective, n_trials=6)
    states: dict[str, set[TrialState]] = {"good": set(), "dummy": set()}
    for trial in study.trials:
        states[trial.params["model"]].add(trial.state)
    assert states == {"good": {TrialState.COMPLETE}, "dummy": {TrialState.PRUNED}}
    assert study.best_trial.params["model"] == "good"
    loss = study.trials[0].intermediate_values[0]
    assert (loss > 0) == (direction == "minimize")  # the natural loss when minimising


def test_evaluate_in_a_multi_objective_study_reports_nothing() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    study = tl.create_study(directions=["maximize", "minimize"])

    def objective(trial: tl.Trial) -> tuple[float, int]:
        depth = trial.suggest_int("depth", 1, 3)
        ev = tl.evaluate(DecisionTreeClassifier(max_depth=depth, random_state=0), X, y, cv=3)
        return ev.mean(), depth

    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all(not t.intermediate_values for t in study.trials)
