"""tunelab.sklearn.TuneSearchCV: parity with GridSearchCV, pruning, failures, sklearn checks."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy.stats import expon, loguniform, randint
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import tunelab as tl
from tunelab.pruners import MedianPruner, SuccessiveHalvingPruner
from tunelab.samplers import BaseSampler, GridSampler, RandomSampler
from tunelab.sklearn import CV_ATTR, FitFailedError, TuneSearchCV
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from tunelab.study import StudyView
from tunelab.trial import FrozenTrial, TrialState


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    # Tiny fits on a shared 2-core machine run ~20x slower with a BLAS thread per core.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    return load_breast_cancer(return_X_y=True)


def _lr() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


def _scaled_lr() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])


def _rows_of(search: Any, reference: Any) -> list[int]:
    """For each candidate of ``search``, its row in ``reference.cv_results_``."""
    ref_params = reference.cv_results_["params"]
    return [ref_params.index(p) for p in search.cv_results_["params"]]


def _assert_same_scores(search: Any, reference: Any, keys: list[str]) -> None:
    rows = _rows_of(search, reference)
    for key in keys:
        ours = np.asarray(search.cv_results_[key], dtype=float)
        theirs = np.asarray(reference.cv_results_[key], dtype=float)[rows]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12, err_msg=key)


def _score_keys(results: dict[str, Any]) -> list[str]:
    return [k for k in results if k.startswith(("split", "mean_t", "std_t", "rank_"))]


# -- parity with GridSearchCV ------------------------------------------------------------------


def test_grid_sampler_reproduces_grid_search_cv_on_iris(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    grid = {"C": [0.01, 0.03, 0.1, 0.3, 1.0]}
    model = _lr()
    ref = GridSearchCV(model, grid, cv=5, return_train_score=True).fit(X, y)
    means = ref.cv_results_["mean_test_score"]
    assert (means == means.max()).sum() == 1  # a unique best, so ties cannot decide it
    search = TuneSearchCV(
        model,
        {"C": FloatDistribution(1e-3, 10.0, log=True)},
        sampler=GridSampler(grid),
        n_trials=None,
        cv=5,
        return_train_score=True,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 5
    assert search.best_params_ == ref.best_params_
    assert search.best_score_ == pytest.approx(ref.best_score_, abs=1e-12)
    _assert_same_scores(search, ref, _score_keys(ref.cv_results_))
    np.testing.assert_array_equal(search.predict(X), ref.predict(X))
    assert search.n_splits_ == ref.n_splits_ == 5
    # The study optimised exactly the mean test score of each candidate.
    values = np.array([t.value for t in search.study_.trials], dtype=float)
    np.testing.assert_allclose(values, search.cv_results_["mean_test_score"], atol=1e-15)


def test_multi_metric_refit_f1_reproduces_grid_search_cv_on_breast_cancer(
    cancer: tuple[np.ndarray, ...],
) -> None:
    X, y = cancer
    grid = {"clf__C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    scoring = {"accuracy": "accuracy", "f1": "f1", "auc": "roc_auc", "nll": "neg_log_loss"}
    ref = GridSearchCV(_scaled_lr(), grid, cv=5, scoring=scoring, refit="f1").fit(X, y)
    f1_means = ref.cv_results_["mean_test_f1"]
    assert (f1_means == f1_means.max()).sum() == 1
    search = TuneSearchCV(
        _scaled_lr(),
        {"clf__C": {"float": [1e-4, 100.0], "log": True}},
        sampler=GridSampler(grid),
        n_trials=None,
        cv=5,
        scoring=scoring,
        refit="f1",
    ).fit(X, y)
    assert search.multimetric_ is True
    assert search.best_params_ == ref.best_params_
    assert search.best_score_ == pytest.approx(ref.best_score_, abs=1e-12)
    _assert_same_scores(search, ref, _score_keys(ref.cv_results_))
    # f1, not accuracy (the first metric), is what the study maximised.
    values = np.array([t.value for t in search.study_.trials])
    np.testing.assert_allclose(values, search.cv_results_["mean_test_f1"], atol=1e-15)
    assert not np.allclose(values, search.cv_results_["mean_test_accuracy"])
    assert isinstance(search.scorer_, dict) and set(search.scorer_) == set(scoring)
    assert search.score(X, y) == pytest.approx(f1_score(y, search.predict(X)))


def test_sample_weight_weights_fits_and_scores_as_grid_search_cv_does(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    weight = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    grid = {"C": [0.03, 0.3, 3.0]}
    ref = GridSearchCV(_lr(), grid, cv=3, scoring="accuracy")
    ref.fit(X, y, sample_weight=weight)
    search = TuneSearchCV(
        _lr(),
        {"C": CategoricalDistribution([0.03, 0.3, 3.0])},
        sampler=GridSampler(grid),
        cv=3,
        scoring="accuracy",
    ).fit(X, y, sample_weight=weight)
    _assert_same_scores(search, ref, ["mean_test_score", "split0_test_score"])
    unweighted = TuneSearchCV(
        _lr(),
        {"C": CategoricalDistribution([0.03, 0.3, 3.0])},
        sampler=GridSampler(grid),
        cv=3,
        scoring="accuracy",
    ).fit(X, y)
    rows = _rows_of(unweighted, search)
    assert not np.allclose(
        unweighted.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"][rows]
    )


def test_cv_results_layout_matches_grid_search_cv_with_conditional_space(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    scoring = ["accuracy", "f1_macro"]
    ref = GridSearchCV(
        SVC(),
        [{"kernel": ["linear"], "C": [0.1, 1.0]}, {"kernel": ["rbf"], "C": [0.1], "gamma": [0.1]}],
        cv=3,
        scoring=scoring,
        refit="accuracy",
        return_train_score=True,
    ).fit(X, y)
    space = {
        "kernel": {"categorical": ["linear", "rbf"]},
        "C": {"float": [0.01, 10.0], "log": True},
        "gamma": {"float": [1e-3, 1.0], "log": True, "when": {"kernel": "rbf"}},
    }
    search = TuneSearchCV(
        SVC(),
        space,
        n_trials=3,
        cv=3,
        scoring=scoring,
        refit="accuracy",
        return_train_score=True,
        sampler=RandomSampler(seed=3),
    ).fit(X, y)
    kernels = search.cv_results_["param_kernel"]
    assert set(kernels) == {"linear", "rbf"}  # the seed gives both branches
    assert sorted(search.cv_results_) == sorted(ref.cv_results_)
    for key, theirs in ref.cv_results_.items():
        ours = search.cv_results_[key]
        assert type(ours) is type(theirs), key
        assert np.shape(ours) == np.shape(theirs), key
        if isinstance(theirs, np.ndarray):
            assert ours.dtype.kind == theirs.dtype.kind, key
    gamma = search.cv_results_["param_gamma"]
    np.testing.assert_array_equal(gamma.mask, kernels != "rbf")
    for params, kernel in zip(search.cv_results_["params"], kernels, strict=True):
        assert ("gamma" in params) == (kernel == "rbf")


# -- composition: pipelines, clone, params, pickling -------------------------------------------


def test_tunes_a_pipeline_and_works_inside_one(cancer: tuple[np.ndarray, ...]) -> None:
    X, y = cancer
    space = {"clf__C": FloatDistribution(1e-3, 10.0, log=True)}
    inner = TuneSearchCV(_scaled_lr(), space, n_trials=3, cv=3, random_state=0).fit(X, y)
    assert set(inner.best_params_) == {"clf__C"}
    assert inner.best_params_["clf__C"] == inner.best_estimator_.named_steps["clf"].C

    outer = make_pipeline(
        StandardScaler(),
        TuneSearchCV(
            LogisticRegression(),
            {"C": FloatDistribution(1e-3, 10.0, log=True)},
            n_trials=3,
            cv=3,
            random_state=0,
        ),
    )
    outer.fit(X, y)
    search = outer[-1]
    scaled = outer[0].transform(X)
    np.testing.assert_array_equal(outer.predict(X), search.best_estimator_.predict(scaled))
    np.testing.assert_allclose(outer.predict_proba(X), search.predict_proba(scaled))
    # A classifier to scikit-learn: nested cross-validation stratifies and scores it.
    scores = cross_val_score(clone(outer), X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.9).all()


def test_clone_get_params_set_params_round_trip(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    space = {"C": FloatDistribution(0.1, 10.0, log=True)}
    search = TuneSearchCV(LogisticRegression(), space, n_trials=3, cv=3, random_state=1)
    params = search.get_params()
    for name in (
        "estimator",
        "param_space",
        "n_trials",
        "cv",
        "scoring",
        "sampler",
        "pruner",
        "n_jobs",
        "refit",
        "random_state",
        "timeout",
        "study",
        "error_score",
        "return_train_score",
        "verbose",
        "estimator__C",
    ):
        assert name in params
    search.set_params(n_trials=4, estimator__max_iter=500)
    assert search.n_trials == 4 and search.estimator.max_iter == 500
    twin = clone(search)
    assert twin.get_params()["param_space"] == space
    assert twin.param_space is not space
    assert twin.get_params(deep=False).keys() == search.get_params(deep=False).keys()
    search.fit(X, y)
    assert not hasattr(clone(search), "cv_results_")
    twin.fit(X, y)
    assert twin.cv_results_["params"] == search.cv_results_["params"]
    assert twin.study_ is not search.study_


def test_fitted_search_pickles_without_its_study(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(
        _lr(), {"C": FloatDistribution(0.1, 10.0, log=True)}, n_trials=2, cv=3
    ).fit(X, y)
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict_proba(X), search.predict_proba(X))
    assert restored.cv_results_["params"] == search.cv_results_["params"]
    assert not hasattr(restored, "study_") and hasattr(search, "study_")


def test_refit_false_keeps_results_but_no_estimator(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(
        _lr(),
        {"C": FloatDistribution(0.1, 10.0, log=True)},
        n_trials=2,
        cv=3,
        refit=False,
        random_state=0,
    ).fit(X, y)
    assert search.best_params_ == search.cv_results_["params"][search.best_index_]
    assert not hasattr(search, "best_estimator_")
    for method in ("predict", "predict_proba", "score", "classes_"):
        assert not hasattr(search, method)
    with pytest.raises(AttributeError) as raised:
        search.predict(X)
    assert "refit=True" in str(raised.value.__cause__)


def test_delegation_follows_the_estimator(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(Ridge(), {"alpha": FloatDistribution(0.1, 10.0)}, n_trials=2, cv=3)
    assert not hasattr(search, "predict_proba") and not hasattr(search, "classes_")
    assert hasattr(search, "predict") and not hasattr(search, "n_features_in_")
    search.fit(X, y.astype(float))
    assert search.n_features_in_ == 4
    assert search.score(X, y) == pytest.approx(search.best_estimator_.score(X, y))


# -- the study: sampler, pruner, seeds, parallel workers ----------------------------------------


class _Sequence(BaseSampler):
    """Gives trial n the n-th value listed for each parameter."""

    def __init__(self, values: dict[str, list[Any]]) -> None:
        self.values = values

    def sample_independent(
        self, study: StudyView, trial: FrozenTrial, name: str, distribution: BaseDistribution
    ) -> Any:
        return self.values[name][trial.number]


def test_median_pruner_stops_an_obviously_bad_config_after_its_first_fold(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    # 100 neighbours out of 120 training rows predict the majority class: hopeless.
    search = TuneSearchCV(
        KNeighborsClassifier(),
        {"n_neighbors": tl.space.IntDistribution(1, 120)},
        sampler=_Sequence({"n_neighbors": [5, 7, 100, 9]}),
        pruner=MedianPruner(n_startup_trials=2),
        n_trials=4,
        cv=5,
    ).fit(X, y)
    states = [t.state for t in search.study_.trials]
    assert states == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    pruned = search.study_.trials[2]
    assert list(pruned.intermediate_values) == [0]
    res = search.cv_results_
    assert np.isfinite(res["split0_test_score"][2]) and res["split0_test_score"][2] < 0.8
    assert all(np.isnan(res[f"split{i}_test_score"][2]) for i in range(1, 5))
    assert np.isnan(res["mean_test_score"][2]) and res["rank_test_score"][2] == 4
    # Completed trials reported each fold but the last, for the pruner to compare.
    assert list(search.study_.trials[3].intermediate_values) == [0, 1, 2, 3]
    assert search.best_params_["n_neighbors"] != 100


def test_no_pruner_means_no_pruning_though_studies_default_to_median(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    search = TuneSearchCV(
        KNeighborsClassifier(),
        {"n_neighbors": tl.space.IntDistribution(1, 120)},
        sampler=_Sequence({"n_neighbors": [5, 7, 9, 11, 13, 15, 100]}),
        n_trials=7,
        cv=3,
    ).fit(X, y)
    assert all(t.state == TrialState.COMPLETE for t in search.study_.trials)


def test_random_state_makes_the_search_reproducible(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    space = {
        "C": {"float": [1e-3, 10.0], "log": True},
        "fit_intercept": {"categorical": [True, False]},
    }

    def run(seed: int) -> Any:
        return TuneSearchCV(
            LogisticRegression(max_iter=500), space, n_trials=4, cv=3, random_state=seed
        ).fit(X, y)

    first, again, other = run(7), run(7), run(8)
    assert first.cv_results_["params"] == again.cv_results_["params"]
    np.testing.assert_array_equal(
        first.cv_results_["mean_test_score"], again.cv_results_["mean_test_score"]
    )
    assert first.cv_results_["params"] != other.cv_results_["params"]
    # A sampler that is passed is copied, reseeded from random_state, and left untouched.
    sampler = RandomSampler(seed=123)

    def run_with(seed: int) -> list[dict[str, Any]]:
        search = TuneSearchCV(_lr(), space, sampler=sampler, n_trials=3, cv=2, random_state=seed)
        return search.fit(X, y).cv_results_["params"]

    assert run_with(7) == run_with(7) != run_with(8)
    assert pickle.dumps(sampler) == pickle.dumps(RandomSampler(seed=123))


def test_process_workers_give_the_serial_results(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    grid = {"C": [0.01, 0.1, 1.0, 10.0]}

    def run(n_jobs: int) -> dict[float, float]:
        search = TuneSearchCV(
            _lr(),
            {"C": FloatDistribution(1e-3, 100.0, log=True)},
            sampler=GridSampler(grid),
            n_trials=None,
            cv=3,
            n_jobs=n_jobs,
        ).fit(X, y)
        res = search.cv_results_
        return {p["C"]: s for p, s in zip(res["params"], res["mean_test_score"], strict=True)}

    parallel = run(2)
    assert sorted(parallel) == grid["C"]
    assert parallel == run(1)


def test_a_given_study_keeps_every_run_and_results_cover_the_latest(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    study = tl.create_study(direction="maximize", sampler=RandomSampler(seed=0))
    space = {"C": FloatDistribution(0.1, 10.0, log=True)}
    search = TuneSearchCV(_lr(), space, n_trials=2, cv=3, study=study)
    search.fit(X, y)
    search.fit(X, y)
    assert search.study_ is study and len(study.trials) == 4
    assert search.cv_results_["params"] == [t.params for t in study.trials[2:]]
    assert all(CV_ATTR in t.user_attrs for t in study.trials)


def test_verbose_two_prints_a_line_per_trial(
    iris: tuple[np.ndarray, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = iris
    TuneSearchCV(_lr(), {"C": FloatDistribution(0.1, 10.0)}, n_trials=2, cv=2, verbose=2).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "TuneSearchCV" in ln]
    assert len(lines) == 2 and "COMPLETE" in lines[0]


# -- failures -----------------------------------------------------------------------------------


class _NeedsRow(ClassifierMixin, BaseEstimator):
    """Predicts the majority class; its fit fails when row ``needs`` (ids in column 0) is absent."""

    def __init__(self, needs: int = -1) -> None:
        self.needs = needs

    def fit(self, X: np.ndarray, y: np.ndarray) -> _NeedsRow:
        if self.needs >= 0 and self.needs not in X[:, 0]:
            raise ValueError(f"row {self.needs} is missing")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.majority_)


@pytest.fixture(scope="module")
def with_ids(iris: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    X, y = iris
    return np.column_stack([np.arange(len(y)), X]), y


_FOLDS = KFold(3, shuffle=True, random_state=0)


def _needs_row_search(error_score: Any, needs: list[int]) -> TuneSearchCV:
    return TuneSearchCV(
        _NeedsRow(),
        {"needs": CategoricalDistribution(needs)},
        sampler=GridSampler({"needs": needs}),
        # A grid sampler retries failed points: None would never end.
        n_trials=len(needs),
        cv=_FOLDS,
        error_score=error_score,
    )


def test_failed_fits_get_error_score_and_fail_their_trial(
    with_ids: tuple[np.ndarray, ...],
) -> None:
    X, y = with_ids
    search = _needs_row_search(np.nan, [-1, 5])
    with pytest.warns(FitFailedWarning, match="1 of 6 fits failed"):
        search.fit(X, y)
    row = search.cv_results_["params"].index({"needs": 5})
    trial = search.study_.trials[row]
    assert trial.state == TrialState.FAIL
    assert "FitFailedError" in trial.fail_reason and "row 5 is missing" in trial.fail_reason
    # Only the fit whose training rows lack row 5 failed.
    failing = next(i for i, (_, test) in enumerate(_FOLDS.split(X)) if 5 in test)
    for i in range(3):
        score = search.cv_results_[f"split{i}_test_score"][row]
        assert np.isnan(score) == (i == failing)
    assert search.best_params_ == {"needs": -1}


def test_every_trial_sees_the_same_folds(with_ids: tuple[np.ndarray, ...]) -> None:
    X, y = with_ids
    # This splitter reshuffles on every split() call: only folds fixed once per fit
    # make row 5 missing from the same fit in every trial.
    search = TuneSearchCV(
        _NeedsRow(),
        {"needs": tl.space.IntDistribution(-1, 149)},
        sampler=_Sequence({"needs": [-1] + [5] * 8}),
        n_trials=9,
        cv=KFold(3, shuffle=True),
    )
    with pytest.warns(FitFailedWarning, match="8 of 27 fits failed"):
        search.fit(X, y)
    failed = [
        [np.isnan(search.cv_results_[f"split{i}_test_score"][row]) for i in range(3)]
        for row in range(1, 9)
    ]
    assert all(sum(row) == 1 for row in failed)
    assert all(row == failed[0] for row in failed)


def test_groups_reach_the_splitter(with_ids: tuple[np.ndarray, ...]) -> None:
    X, y = with_ids
    groups = np.arange(len(y)) % 5
    search = TuneSearchCV(
        _NeedsRow(),
        {"needs": CategoricalDistribution([-1, 5])},
        sampler=GridSampler({"needs": [-1, 5]}),
        n_trials=2,
        cv=GroupKFold(5),
    )
    with pytest.warns(FitFailedWarning):
        search.fit(X, y, groups=groups)
    assert search.n_splits_ == 5
    row = search.cv_results_["params"].index({"needs": 5})
    failed = [np.isnan(search.cv_results_[f"split{i}_test_score"][row]) for i in range(5)]
    # Row 5 is in group 0, which only one fold tests.
    assert sum(failed) == 1
    with pytest.raises(ValueError, match="groups"):
        search.fit(X, y)


def test_numeric_error_score_matches_grid_search_cv(with_ids: tuple[np.ndarray, ...]) -> None:
    X, y = with_ids
    search = _needs_row_search(-1.0, [-1, 5, 70])
    with pytest.warns(FitFailedWarning):
        search.fit(X, y)
    with pytest.warns(FitFailedWarning):
        ref = GridSearchCV(_NeedsRow(), {"needs": [-1, 5, 70]}, cv=_FOLDS, error_score=-1.0)
        ref.fit(X, y)
    _assert_same_scores(search, ref, _score_keys(ref.cv_results_))
    assert (search.cv_results_["mean_test_score"] < 0).sum() == 2


def test_error_score_raise_raises_the_fit_error(with_ids: tuple[np.ndarray, ...]) -> None:
    X, y = with_ids
    search = _needs_row_search("raise", [5])
    with pytest.raises(ValueError, match="row 5 is missing"):
        search.fit(X, y)


def test_when_every_trial_fails_fit_says_why(with_ids: tuple[np.ndarray, ...]) -> None:
    X, y = with_ids
    search = _needs_row_search(np.nan, [999, 5])
    with pytest.raises(ValueError, match=r"(?s)no trial completed.*3 x ValueError: row 999 is"):
        search.fit(X, y)
    assert not hasattr(search, "study_")  # a failed fit leaves no fitted attributes
    assert issubclass(FitFailedError, tl.TunelabError)


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"n_trials": 0}, "n_trials must be an integer >= 1"),
        ({"n_jobs": 0}, "n_jobs must be an integer >= 1, -1"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"error_score": "ignore"}, "error_score must be 'raise' or a number"),
        ({"return_train_score": "yes"}, "return_train_score must be True or False"),
        ({"verbose": -1}, "verbose must be an integer >= 0"),
        ({"random_state": -3}, "random_state must be an integer >= 0"),
        ({"scoring": []}, "scoring must be None"),
        ({"scoring": "acuracy"}, "scoring: Unknown metric 'acuracy'. Did you mean: accuracy"),
        ({"scoring": ["accuracy", "f1_macro"]}, r"refit must name .* \['accuracy', 'f1_macro'\]"),
        ({"refit": "accuracy"}, "refit must be True or False with a single metric"),
        ({"param_space": {"D": FloatDistribution(0.1, 1.0)}}, r"param_space: \['D'\] are not"),
        ({"param_space": {"C": {"float": [1.0]}}}, r"param_space.C.float: expected \[low, high\]"),
        (
            {"param_space": {"C": FloatDistribution(0.1, 1.0), "tol": {"float": [0.1, 1.0]}}},
            "not a mix",
        ),
        ({"sampler": "tpe"}, "sampler must be a tunelab sampler"),
        ({"pruner": MedianPruner}, "pruner must be a tunelab pruner"),
        ({"study": tl.create_study()}, "study must have the single direction 'maximize'"),
        (
            {"study": tl.create_study(direction="maximize"), "random_state": 0},
            "with a study, leave sampler, pruner and random_state as None",
        ),
        ({"cv": "five"}, r"Expected `?cv`? as an integer"),
    ],
)
def test_invalid_settings_are_named_at_fit(
    iris: tuple[np.ndarray, ...], changes: dict[str, Any], match: str
) -> None:
    X, y = iris
    search = TuneSearchCV(_lr(), {"C": FloatDistribution(0.1, 10.0)}, n_trials=1)
    search.set_params(**changes)  # nothing is checked before fit, as scikit-learn expects
    with pytest.raises(ValueError, match=match):
        search.fit(X, y)
    assert not hasattr(search, "cv_results_")


def test_fit_needs_y_and_accepts_only_sample_weight(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(_lr(), {"C": FloatDistribution(0.1, 10.0)}, n_trials=1)
    with pytest.raises(ValueError, match="requires y to be passed"):
        search.fit(X, None)
    with pytest.raises(TypeError, match=r"unsupported fit parameter\(s\) \['check_input'\]"):
        search.fit(X, y, check_input=False)


# -- scikit-learn's estimator checks ------------------------------------------------------------


@pytest.mark.slow
@parametrize_with_checks(
    [
        TuneSearchCV(
            LogisticRegression(),
            {"C": FloatDistribution(0.1, 10, log=True)},
            n_trials=3,
            cv=3,
            random_state=0,
        ),
        TuneSearchCV(
            Ridge(),
            {"alpha": FloatDistribution(0.01, 10, log=True)},
            n_trials=3,
            cv=3,
            random_state=0,
        ),
        # A seeded inner estimator searched in RandomizedSearchCV's space form.
        TuneSearchCV(
            SGDClassifier(random_state=0),
            {"alpha": loguniform(1e-5, 1e-1), "penalty": ["l2", "l1"]},
            n_trials=3,
            cv=3,
            random_state=0,
        ),
        # Multi-fidelity: every trial trained at 1, 3 then 9 epochs.
        TuneSearchCV(
            SGDClassifier(random_state=0, max_iter=9, tol=None),
            {"alpha": loguniform(1e-5, 1e-1)},
            n_trials=3,
            cv=3,
            random_state=0,
            resource="max_iter",
            min_resources=1,
        ),
    ],
)
def test_scikit_learn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


# -- RandomizedSearchCV's space form, pickling, trial attributes --------------------------------


def test_lists_and_scipy_distributions_become_tunelab_distributions(
    iris: tuple[np.ndarray, ...],
) -> None:
    X, y = iris
    space = {
        "C": loguniform(1e-2, 1e2),
        "tol": expon(scale=1e-3),
        "max_iter": randint(100, 400),
        "fit_intercept": [True, False],
    }
    search = TuneSearchCV(_lr(), space, n_trials=6, cv=3, random_state=0).fit(X, y)
    dists = search.best_trial_.distributions
    assert dists["C"] == FloatDistribution(1e-2, 1e2, log=True)
    assert dists["max_iter"] == IntDistribution(100, 399)
    assert dists["fit_intercept"] == CategoricalDistribution([True, False])
    low, high = dists["tol"].low, dists["tol"].high
    assert low == 0.0 and high == pytest.approx(expon(scale=1e-3).ppf(1 - 5e-4))
    for params in search.cv_results_["params"]:
        assert 1e-2 <= params["C"] <= 1e2 and 100 <= params["max_iter"] <= 399
        assert isinstance(params["max_iter"], int) and params["fit_intercept"] in (True, False)


def test_a_space_mixing_forms_or_an_empty_list_is_refused(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    mixed = {"C": loguniform(1e-2, 1e2), "tol": {"float": [1e-5, 1e-3]}}
    with pytest.raises(ValueError, match="not a mix"):
        TuneSearchCV(_lr(), mixed, n_trials=1).fit(X, y)
    with pytest.raises(ValueError, match=r"param_space\['C'\]: the list of choices is empty"):
        TuneSearchCV(_lr(), {"C": []}, n_trials=1).fit(X, y)


def test_a_fitted_search_with_a_metric_name_pickles(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(
        _lr(),
        {"C": FloatDistribution(0.1, 10, log=True)},
        n_trials=3,
        cv=3,
        scoring="f1_macro",
        random_state=0,
    ).fit(X, y)
    copy = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(copy.predict(X), search.predict(X))
    assert copy.score(X, y) == search.score(X, y)
    assert [t.number for t in copy.trials_] == [t.number for t in search.trials_]
    assert copy.best_trial_.params == search.best_params_


def test_trials_attributes_and_dataframe(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    search = TuneSearchCV(
        _lr(), {"C": FloatDistribution(0.1, 10, log=True)}, n_trials=4, cv=3, random_state=0
    ).fit(X, y)
    assert search.n_trials_ == 4 == len(search.trials_)
    assert search.best_trial_.value == pytest.approx(search.best_score_)
    assert search.best_trial_ is search.trials_[search.best_index_]
    frame = search.trials_dataframe()
    assert list(frame["number"]) == [t.number for t in search.trials_]
    assert list(frame["params_C"]) == [t.params["C"] for t in search.trials_]
    assert f"user_attrs_{CV_ATTR}" not in frame.columns
    with pytest.raises(NotFittedError):
        TuneSearchCV(_lr(), {"C": [1.0]}).trials_dataframe()


def test_every_fit_failing_with_one_type_raises_that_type(iris: tuple[np.ndarray, ...]) -> None:
    X, y = iris
    bad = X.astype(object)
    bad[0, 0] = {"not": "a number"}
    with pytest.raises(TypeError, match="(?s)no trial completed.*TypeError"):
        TuneSearchCV(_lr(), {"C": [1.0, 2.0]}, n_trials=2, cv=3).fit(bad, y)


# -- multi-fidelity: resource, min_resources, max_resources, factor ----------------------------


def _hgb() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=27, early_stopping=False, random_state=0)


_HGB_SPACE = {
    "learning_rate": FloatDistribution(0.005, 1.0, log=True),
    "max_leaf_nodes": IntDistribution(2, 32, log=True),
}


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=300, n_features=10, n_informative=6, flip_y=0.05, random_state=0
    )


def _spent(search: TuneSearchCV, warm: bool) -> int:
    """Resource units trained, per fold: a warm-started trial pays only for its largest."""
    if search.resource is None:
        return len(search.trials_) * _hgb().max_iter
    steps = [list(t.intermediate_values) for t in search.trials_]
    return sum(max(s) if warm else sum(s) for s in steps)


@pytest.mark.slow
def test_boosting_rounds_as_resource_match_the_full_search_for_less(
    blobs: tuple[np.ndarray, ...],
) -> None:
    X, y = blobs
    # The same candidates in the same order (a seeded random sampler ignores the results),
    # so the staged search's best can only be missed by pruning it.
    common: dict[str, Any] = {
        "n_trials": 16,
        "cv": 3,
        "random_state": 0,
        "sampler": RandomSampler(),
    }
    full = TuneSearchCV(_hgb(), _HGB_SPACE, **common).fit(X, y)
    staged = TuneSearchCV(
        _hgb(), _HGB_SPACE, resource="max_iter", min_resources=3, factor=3, **common
    ).fit(X, y)
    assert staged.n_resources_ == [3, 9, 27]
    assert (staged.min_resources_, staged.max_resources_) == (3, 27)
    # The default pruner is successive halving on the schedule's rungs.
    pruner = staged.study_.pruner
    assert isinstance(pruner, SuccessiveHalvingPruner)
    assert (pruner.min_resource, pruner.reduction_factor) == (3, 3)
    states = [t.state for t in staged.trials_]
    assert states.count(TrialState.PRUNED) >= 5
    reached = staged.cv_results_["n_resources"]
    for trial, resource in zip(staged.trials_, reached, strict=True):
        assert max(trial.intermediate_values) == resource
        assert trial.user_attrs["sklearn_resource"] == resource
        assert (trial.state == TrialState.COMPLETE) == (resource == 27)
    # Completed trials rank above pruned ones, whose scores are at a smaller resource.
    ranks = staged.cv_results_["rank_test_score"]
    assert ranks[staged.best_index_] == 1
    assert ranks[reached == 27].max() < ranks[reached < 27].min()
    assert staged.best_score_ >= full.best_score_ - 0.02
    assert _spent(staged, warm=True) <= 0.5 * _spent(full, warm=True)
    assert staged.best_estimator_.max_iter == 27
    assert "user_attrs_sklearn_resource" in staged.trials_dataframe().columns


@pytest.mark.parametrize(
    ("estimator", "resource", "params"),
    [
        # Warm-started: boosting rounds and forest trees continue from the last resource.
        (_hgb(), "max_iter", {"learning_rate": 0.2, "max_leaf_nodes": 8}),
        (
            make_pipeline(
                StandardScaler(), RandomForestClassifier(n_estimators=27, random_state=0)
            ),
            "randomforestclassifier__n_estimators",
            {"randomforestclassifier__max_depth": 4},
        ),
        # Refit from scratch: a warm-started SGD would restart its epochs from the last
        # solution and differ from a fresh fit with more epochs.
        (SGDClassifier(max_iter=27, tol=None, random_state=0), "max_iter", {"alpha": 1e-3}),
    ],
)
def test_each_resource_scores_as_a_fresh_fit_at_that_resource(
    blobs: tuple[np.ndarray, ...], estimator: Any, resource: str, params: dict[str, Any]
) -> None:
    X, y = blobs
    search = TuneSearchCV(
        estimator,
        {k: CategoricalDistribution([v]) for k, v in params.items()},
        n_trials=1,
        cv=KFold(3),
        resource=resource,
        min_resources=3,
        pruner=tl.pruners.NopPruner(),
    ).fit(X, y)
    values = search.trials_[0].intermediate_values
    assert list(values) == [3, 9, 27]
    for amount in (3, 9, 27):
        fresh = clone(estimator).set_params(**{resource: amount}, **params)
        assert values[amount] == pytest.approx(cross_val_score(fresh, X, y, cv=KFold(3)).mean())
    assert search.best_estimator_.get_params()[resource] == 27


@pytest.mark.slow
def test_n_samples_as_resource_match_the_full_search_for_less(
    cancer: tuple[np.ndarray, ...],
) -> None:
    X, y = cancer
    space = {"clf__C": FloatDistribution(1e-5, 1e2, log=True)}
    common: dict[str, Any] = {
        "n_trials": 12,
        "cv": 3,
        "random_state": 0,
        "sampler": RandomSampler(),
    }
    full = TuneSearchCV(_scaled_lr(), space, **common).fit(X, y)
    staged = TuneSearchCV(
        _scaled_lr(), space, resource="n_samples", min_resources=60, factor=3, **common
    ).fit(X, y)
    assert staged.n_resources_ == [60, 180, 540, len(X)]
    assert any(t.state == TrialState.PRUNED for t in staged.trials_)
    assert staged.best_score_ >= full.best_score_ - 0.02
    spent = sum(sum(t.intermediate_values) for t in staged.trials_)
    assert spent <= 0.6 * len(full.trials_) * len(X)


def test_a_given_pruner_is_used_with_a_resource(blobs: tuple[np.ndarray, ...]) -> None:
    X, y = blobs
    search = TuneSearchCV(
        _hgb(),
        _HGB_SPACE,
        n_trials=3,
        cv=3,
        random_state=0,
        resource="max_iter",
        max_resources=9,
        pruner=tl.pruners.NopPruner(),
    ).fit(X, y)
    assert search.n_resources_ == [1, 3, 9]
    assert all(t.state == TrialState.COMPLETE for t in search.trials_)
    assert all(list(t.intermediate_values) == [1, 3, 9] for t in search.trials_)
    assert list(search.cv_results_["n_resources"]) == [9, 9, 9]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"resource": "n_estimators"}, r"resource must be None, 'n_samples' or the name of an"),
        ({"resource": 3}, r"resource must be None, 'n_samples'"),
        (
            {"resource": "C", "param_space": {"C": FloatDistribution(0.1, 10.0)}},
            "resource='C' is also in param_space",
        ),
        ({"resource": "max_iter", "factor": 1}, r"factor must be an integer >= 2"),
        ({"resource": "max_iter", "min_resources": 0}, r"min_resources must be an integer >= 1"),
        ({"resource": "max_iter", "min_resources": "exhaust"}, "or 'smallest'"),
        ({"resource": "max_iter", "max_resources": "all"}, r"max_resources must be .* 'auto'"),
        (
            {"resource": "max_iter", "min_resources": 50, "max_resources": 10},
            r"min_resources \(50\) must not exceed max_resources \(10\)",
        ),
        ({"resource": "n_samples", "max_resources": 1000}, "at most the number of samples"),
        (
            {"resource": "tol", "param_space": {"C": FloatDistribution(0.1, 10.0)}},
            "max_resources='auto' takes the estimator's own tol, which is 0.0001",
        ),
    ],
)
def test_invalid_resource_settings_are_named_at_fit(
    iris: tuple[np.ndarray, ...], changes: dict[str, Any], match: str
) -> None:
    X, y = iris
    search = TuneSearchCV(_lr(), {"tol": FloatDistribution(1e-4, 1e-2)}, n_trials=1)
    search.set_params(**changes)
    with pytest.raises(ValueError, match=match):
        search.fit(X, y)
    assert not hasattr(search, "cv_results_")


class _CountingEnsemble(ClassifierMixin, BaseEstimator):
    """Majority-of-members classifier that counts the members it builds (across instances)."""

    built: ClassVar[list[int]] = []

    def __init__(self, n_estimators: int = 10, warm_start: bool = False, tie: str = "low") -> None:
        self.n_estimators = n_estimators
        self.warm_start = warm_start
        self.tie = tie

    def fit(self, X: np.ndarray, y: np.ndarray) -> _CountingEnsemble:
        self.classes_ = np.unique(y)
        members = list(getattr(self, "members_", [])) if self.warm_start else []
        new = self.n_estimators - len(members)
        members.extend(np.bincount(np.searchsorted(self.classes_, y)).argmax() for _ in range(new))
        _CountingEnsemble.built.append(new)
        self.members_ = members
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.classes_[self.members_[0]])


def test_warm_start_builds_each_fold_once_up_to_the_largest_resource(
    blobs: tuple[np.ndarray, ...],
) -> None:
    X, y = blobs
    _CountingEnsemble.built.clear()
    TuneSearchCV(
        _CountingEnsemble(n_estimators=27),
        {"tie": CategoricalDistribution(["low", "high"])},
        n_trials=2,
        cv=3,
        resource="n_estimators",
        min_resources=3,
        pruner=tl.pruners.NopPruner(),
        refit=False,
    ).fit(X, y)
    # 2 trials x 3 folds, each fold continuing 3 -> 9 -> 27: 27 members, not 3 + 9 + 27.
    assert sum(_CountingEnsemble.built) == 2 * 3 * 27
    assert _CountingEnsemble.built[:3] == [3, 3, 3]
