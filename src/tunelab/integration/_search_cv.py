"""``OptunaSearchCV``: Optuna's cross-validated search estimator on tunelab studies.

Behaviour follows ``optuna.integration.OptunaSearchCV``: every trial stores its
per-split scores as user attributes (``split0_test_score``,
``mean_test_score``...), ``cv_results_`` is read back from them, the study
maximises the scorer, and with ``enable_pruning`` each candidate is trained
``partial_fit`` step by step on every fold with the mean fold score reported
to the study's pruner after each step.
"""

from __future__ import annotations

import copy
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv, cross_validate
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _num_samples, check_is_fitted

from tunelab._validation import is_int
from tunelab.exceptions import TrialPruned
from tunelab.samplers import TPESampler
from tunelab.space import BaseDistribution
from tunelab.study import Study, create_study
from tunelab.trial import BaseTrial, FrozenTrial, StudyDirection

if TYPE_CHECKING:
    import pandas as pd

Callback = Callable[[Study, FrozenTrial], None]


class OptunaSearchCV(BaseEstimator):
    """Hyperparameter search with cross-validation, under Optuna's name and signature.

    Args:
        estimator: The scikit-learn estimator to tune; it needs ``score`` unless
            ``scoring`` is given.
        param_distributions: Parameter name to a tunelab (or Optuna-named)
            distribution.
        cv: None (5 folds), a number of folds (stratified for classifiers), a
            splitter or an iterable of (train, test) index pairs.
        enable_pruning: Train with ``partial_fit`` for up to ``max_iter`` steps,
            reporting the mean fold score after each so the study's pruner
            can stop the trial.
        error_score: Score of a fit that raised, or ``"raise"``.
        max_iter: Steps of ``partial_fit`` with ``enable_pruning``.
        n_jobs: Trials run at once in threads of this process; None is 1, -1
            one per CPU.
        n_trials: Trials to run; None for no limit.
        random_state: Seed (int or RandomState) of the default sampler and of
            ``subsample``.
        refit: Refit the best parameters on all the data.
        return_train_score: Also store each split's training score.
        scoring: A scorer name or callable; None uses the estimator's ``score``.
        study: A study to run in (direction ``maximize``); a new in-memory
            study with a seeded TPE sampler by default.
        subsample: Rows used by the search: a fraction (float) or a count (int).
        timeout: Seconds after which no new trial starts.
        verbose: 0 quiet, 1 or more shows tunelab's per-trial log lines.
        callbacks: Called as ``callback(study, frozen_trial)`` after each trial.
        catch: Exception types that fail a trial without stopping the search.

    Attributes:
        best_estimator_: The estimator refit on the best parameters (``refit``).
        n_splits_: Number of folds.
        refit_time_: Seconds the refit took.
        sample_indices_: Rows the search used.
        scorer_: The scorer.
        study_: The study the trials ran in.
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Mapping[str, BaseDistribution],
        *,
        cv: Any = None,
        enable_pruning: bool = False,
        error_score: float | str = np.nan,
        max_iter: int = 1000,
        n_jobs: int | None = None,
        n_trials: int | None = 10,
        random_state: int | np.random.RandomState | None = None,
        refit: bool = True,
        return_train_score: bool = False,
        scoring: Callable[..., float] | str | None = None,
        study: Study | None = None,
        subsample: float | int = 1.0,
        timeout: float | None = None,
        verbose: int = 0,
        callbacks: list[Callback] | None = None,
        catch: Iterable[type[Exception]] | type[Exception] = (),
    ) -> None:
        # Checked here as Optuna does: code written for it catches this TypeError at construction.
        if not isinstance(param_distributions, Mapping):
            raise TypeError(
                "param_distributions must be a mapping of parameter name to distribution; "
                f"got {type(param_distributions).__name__}"
            )
        self.estimator = estimator
        self.param_distributions = dict(param_distributions)
        self.cv = cv
        self.enable_pruning = enable_pruning
        self.error_score = error_score
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.n_trials = n_trials
        self.random_state = random_state
        self.refit = refit
        self.return_train_score = return_train_score
        self.scoring = scoring
        self.study = study
        self.subsample = subsample
        self.timeout = timeout
        self.verbose = verbose
        self.callbacks = callbacks
        self.catch = catch

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        tags.estimator_type = get_tags(self.estimator).estimator_type
        tags.non_deterministic = True
        return tags

    # -- results, read from the study --
    def _check_is_fitted(self) -> None:
        attributes = ["n_splits_", "sample_indices_", "scorer_", "study_"]
        if self.refit:
            attributes += ["best_estimator_", "refit_time_"]
        check_is_fitted(self, attributes)

    @property
    def trials_(self) -> list[FrozenTrial]:
        """Every trial of the study."""
        self._check_is_fitted()
        return self.study_.trials

    @property
    def n_trials_(self) -> int:
        """Number of trials in the study."""
        return len(self.trials_)

    @property
    def best_trial_(self) -> FrozenTrial:
        """The best trial."""
        self._check_is_fitted()
        return self.study_.best_trial

    @property
    def best_index_(self) -> int:
        """Number of the best trial."""
        return self.best_trial_.number

    @property
    def best_params_(self) -> dict[str, Any]:
        """Parameters of the best trial."""
        self._check_is_fitted()
        return self.study_.best_params

    @property
    def best_score_(self) -> float:
        """Mean cross-validated score of the best trial."""
        self._check_is_fitted()
        return self.study_.best_value

    @property
    def user_attrs_(self) -> dict[str, Any]:
        """The study's user attributes."""
        self._check_is_fitted()
        return self.study_.user_attrs

    @property
    def cv_results_(self) -> dict[str, list[Any]]:
        """Each trial's stored scores, as lists keyed by attribute name."""
        rows = [t.user_attrs for t in self.trials_]
        if not rows:
            return {}
        return {key: [row.get(key) for row in rows] for key in rows[0]}

    @property
    def classes_(self) -> Any:
        """Class labels of the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.classes_

    def trials_dataframe(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """The study's trials as a DataFrame (see :meth:`Study.trials_dataframe`)."""
        self._check_is_fitted()
        return self.study_.trials_dataframe(*args, **kwargs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Set a user attribute on the study."""
        self._check_is_fitted()
        self.study_.set_user_attr(key, value)

    # -- fit --
    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any) -> OptunaSearchCV:
        """Run the trials and, with ``refit``, fit the best parameters on all the data.

        Raises:
            ValueError: A parameter is invalid (the message names it).
        """
        self._check_params()
        rng = check_random_state(self.random_state)
        n_samples = _num_samples(X)
        count = self.subsample
        if isinstance(count, float):
            count = int(count * n_samples)
        self.sample_indices_ = np.arange(n_samples)
        if count < n_samples:
            self.sample_indices_ = np.sort(rng.choice(n_samples, count, replace=False))
        X_res = _safe_indexing(X, self.sample_indices_)
        y_res = None if y is None else _safe_indexing(y, self.sample_indices_)
        groups_res = None if groups is None else _safe_indexing(groups, self.sample_indices_)
        cv = check_cv(self.cv, y_res, classifier=is_classifier(self.estimator))
        self.n_splits_ = cv.get_n_splits(X_res, y_res, groups=groups_res)
        self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        if self.study is None:
            sampler = TPESampler(seed=int(rng.randint(0, np.iinfo(np.int32).max)))
            self.study_ = create_study(direction="maximize", sampler=sampler)
        else:
            self.study_ = self.study
        objective = _Objective(self, X_res, y_res, groups_res, cv, fit_params)
        self.study_.optimize(
            objective,
            n_trials=self.n_trials,
            timeout=self.timeout,
            n_jobs=self.n_jobs or 1,
            catch=self.catch,
            callbacks=self.callbacks,
            show_progress_bar=False,
            backend="thread",
        )
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.study_.best_params)
            start = time.perf_counter()
            self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
        return self

    def _check_params(self) -> None:
        if not hasattr(self.estimator, "fit"):
            raise ValueError(f"estimator must be a scikit-learn estimator; got {self.estimator!r}")
        for name, dist in self.param_distributions.items():
            if not isinstance(dist, BaseDistribution):
                raise ValueError(
                    f"param_distributions[{name!r}] must be a distribution "
                    f"(FloatDistribution, IntDistribution, CategoricalDistribution); got {dist!r}"
                )
        if self.enable_pruning and not hasattr(self.estimator, "partial_fit"):
            raise ValueError("enable_pruning=True needs an estimator with partial_fit")
        if not is_int(self.max_iter):
            raise ValueError(f"max_iter must be a positive integer; got {self.max_iter!r}")
        if self.max_iter <= 0:
            raise ValueError(f"max_iter must be > 0; got {self.max_iter}")
        if self.error_score != "raise" and not isinstance(self.error_score, numbers.Real):
            raise ValueError(f"error_score must be 'raise' or a number; got {self.error_score!r}")
        if self.study is not None and self.study.directions != [StudyDirection.MAXIMIZE]:
            raise ValueError(
                "the study's direction must be 'maximize' (scorers are higher-is-better)"
            )

    # -- delegation to the refit estimator --
    def predict(self, X: Any, **kwargs: Any) -> Any:
        """Predict with the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.predict(X, **kwargs)

    def predict_proba(self, X: Any, **kwargs: Any) -> Any:
        """Class probabilities from the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.predict_proba(X, **kwargs)

    def predict_log_proba(self, X: Any, **kwargs: Any) -> Any:
        """Log class probabilities from the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.predict_log_proba(X, **kwargs)

    def decision_function(self, X: Any, **kwargs: Any) -> Any:
        """Decision scores from the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.decision_function(X, **kwargs)

    def transform(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Transform with the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.transform(X, *args, **kwargs)

    def inverse_transform(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        """Inverse-transform with the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.inverse_transform(X, *args, **kwargs)

    @property
    def score_samples(self) -> Callable[..., Any]:
        """``score_samples`` of the refit estimator."""
        self._check_is_fitted()
        return self.best_estimator_.score_samples

    def score(self, X: Any, y: Any = None) -> float:
        """The scorer's value for the refit estimator on ``(X, y)``."""
        self._check_is_fitted()
        return float(self.scorer_(self.best_estimator_, X, y))


class _Objective:
    """One trial: sample the parameters, cross-validate, store every split's score."""

    def __init__(
        self, search: OptunaSearchCV, X: Any, y: Any, groups: Any, cv: Any, fit_params: Any
    ) -> None:
        self.search = search
        self.X, self.y, self.groups, self.cv = X, y, groups, cv
        self.fit_params = fit_params

    def __call__(self, trial: BaseTrial) -> float:
        search = self.search
        params = {name: trial._suggest(name, d) for name, d in search.param_distributions.items()}
        estimator = clone(search.estimator).set_params(**params)
        # Threads share this objective: each trial gets its own fit parameters.
        fit_params = copy.deepcopy(self.fit_params)
        if search.enable_pruning:
            scores = self._partial_fits(trial, estimator, fit_params)
        else:
            scores = cross_validate(
                estimator,
                self.X,
                self.y,
                groups=self.groups,
                cv=self.cv,
                scoring=search.scorer_,
                error_score=search.error_score,
                return_train_score=search.return_train_score,
                params=fit_params,
            )
        _store(trial, scores)
        return float(np.nanmean(scores["test_score"]))

    def _partial_fits(
        self, trial: BaseTrial, estimator: Any, fit_params: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        if is_classifier(estimator) and self.y is not None:
            fit_params.setdefault("classes", np.unique(self.y))
        splits = list(self.cv.split(self.X, self.y, groups=self.groups))
        models = [clone(estimator) for _ in splits]
        n = len(splits)
        scores = {"fit_time": np.zeros(n), "score_time": np.zeros(n), "test_score": np.zeros(n)}
        if self.search.return_train_score:
            scores["train_score"] = np.zeros(n)
        for step in range(self.search.max_iter):
            for i, (train, test) in enumerate(splits):
                self._step(models[i], train, test, fit_params, scores, i)
            trial.report(float(np.nanmean(scores["test_score"])), step)
            if trial.should_prune():
                _store(trial, scores)
                raise TrialPruned(f"pruned at iteration {step}")
        return scores

    def _step(
        self,
        model: Any,
        train: np.ndarray,
        test: np.ndarray,
        fit_params: dict[str, Any],
        scores: dict[str, np.ndarray],
        i: int,
    ) -> None:
        X_train, y_train = _safe_split(model, self.X, self.y, train)
        X_test, y_test = _safe_split(model, self.X, self.y, test, train)
        scorer, error_score = self.search.scorer_, self.search.error_score
        start = time.perf_counter()
        try:
            model.partial_fit(X_train, y_train, **fit_params)
        except Exception:
            if error_score == "raise":
                raise
            scores["fit_time"][i] += time.perf_counter() - start
            scores["test_score"][i] = error_score
            if "train_score" in scores:
                scores["train_score"][i] = error_score
            return
        fitted = time.perf_counter()
        scores["fit_time"][i] += fitted - start
        scores["test_score"][i] = scorer(model, X_test, y_test)
        if "train_score" in scores:
            scores["train_score"][i] = scorer(model, X_train, y_train)
        scores["score_time"][i] += time.perf_counter() - fitted


def _store(trial: BaseTrial, scores: Mapping[str, np.ndarray]) -> None:
    """Each split's scores and every measure's mean and spread, as user attributes."""
    for name, values in scores.items():
        array = np.asarray(values, dtype=float)
        if name in ("test_score", "train_score"):
            for i, value in enumerate(array):
                trial.set_user_attr(f"split{i}_{name}", float(value))
        trial.set_user_attr(f"mean_{name}", float(np.nanmean(array)))
        trial.set_user_attr(f"std_{name}", float(np.nanstd(array)))
