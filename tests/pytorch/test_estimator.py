"""TorchClassifier / TorchRegressor: scikit-learn's contract and tunelab's tools."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import tunelab as tl
from tunelab.samplers import RandomSampler
from tunelab.sklearn import TuneSearchCV
from tunelab.space import CategoricalDistribution, FloatDistribution
from tunelab.torch import TorchClassifier, TorchRegressor

RNG = np.random.default_rng(1)
X = np.concatenate([RNG.normal(-2, 1, (60, 3)), RNG.normal(2, 1, (60, 3))])
LABELS = np.repeat(np.array(["spam", "ham"]), 60)
Y_REG = X @ np.array([1.5, -2.0, 0.5]) + RNG.normal(scale=0.1, size=120)


def test_init_only_stores_parameters_and_fit_validates_them() -> None:
    model = TorchClassifier(hidden=(8, 0), activation="swish", epochs=3)
    assert model.get_params()["activation"] == "swish"
    with pytest.raises(ValueError, match=r"MLPSpec.hidden\[1\]"):
        model.fit(X, LABELS)
    with pytest.raises(ValueError, match="MLPSpec.activation: expected one of"):
        model.set_params(hidden=(8,)).fit(X, LABELS)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TorchClassifier(optimizer="rmsprop").fit(X, LABELS)
    with pytest.raises(NotFittedError):
        TorchClassifier().predict(X)


def test_clone_keeps_parameters_and_tags_identify_the_task() -> None:
    model = TorchClassifier(hidden=(8, 4), lr=0.01, dropout=0.2, seed=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert is_classifier(model) and is_regressor(TorchRegressor())


def test_classifier_accepts_any_labels() -> None:
    model = TorchClassifier(hidden=(8,), epochs=20, lr=0.02, seed=0).fit(X, LABELS)
    assert model.classes_.tolist() == ["ham", "spam"]
    assert model.n_features_in_ == 3
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert model.score(X, LABELS) > 0.95
    with pytest.raises(ValueError, match="at least 2 classes"):
        TorchClassifier().fit(X, np.repeat("ham", 120))
    with pytest.raises(ValueError, match=r"labels not seen in y: \['eggs'\]"):
        TorchClassifier(epochs=1).fit(X, LABELS, validation_data=(X[:2], ["eggs", "ham"]))


def test_regressor_single_and_multiple_targets() -> None:
    model = TorchRegressor(hidden=(), epochs=60, lr=0.05, batch_size=16, seed=0).fit(X, Y_REG)
    assert model.predict(X).shape == (120,)
    assert model.score(X, Y_REG) > 0.95
    both = np.column_stack([Y_REG, -Y_REG])
    multi = TorchRegressor(hidden=(), epochs=60, lr=0.05, batch_size=16, seed=0).fit(X, both)
    assert multi.predict(X).shape == (120, 2)
    assert not hasattr(model, "predict_proba")


def test_fit_reports_to_a_trial() -> None:
    study = tl.create_study(direction="maximize")
    trial = study.ask()
    model = TorchClassifier(hidden=(4,), epochs=4, seed=0)
    model.fit(X, LABELS, validation_data=(X, LABELS), trial=trial, metric="accuracy")
    reported = study.trials[0].intermediate_values
    assert sorted(reported) == [0, 1, 2, 3]
    assert model.history_.val_score == [reported[step] for step in range(4)]


def test_works_with_evaluate_and_tune_search_cv() -> None:
    model = TorchClassifier(hidden=(8,), epochs=10, lr=0.02, seed=0)
    evaluation = tl.evaluate(model, X, LABELS, cv=3, metrics="accuracy")
    assert evaluation.mean("accuracy") > 0.9
    space = {
        "lr": FloatDistribution(1e-3, 5e-2, log=True),
        "activation": CategoricalDistribution(["relu", "tanh"]),
    }
    search = TuneSearchCV(model, space, n_trials=3, cv=2, sampler=RandomSampler(seed=0))
    search.fit(X, LABELS)
    assert set(search.best_params_) == {"lr", "activation"}
    assert isinstance(search.best_estimator_, TorchClassifier)
    assert search.best_estimator_.predict(X[:5]).dtype.kind == "U"


@pytest.mark.slow
@parametrize_with_checks(
    [
        TorchClassifier(seed=0, epochs=8, lr=1e-2),
        TorchRegressor(seed=0, epochs=8, lr=1e-2),
    ]
)
def test_scikit_learn_estimator_checks(estimator: object, check: Any) -> None:
    check(estimator)


def test_predict_checks_the_feature_count_and_names() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = TorchClassifier(epochs=2, seed=0).fit(frame, LABELS)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="X has 2 features, but TorchClassifier is expecting 3"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(frame.rename(columns={"a": "z"}))
