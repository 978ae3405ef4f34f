"""scikit-learn face of tunelab: :class:`TuneSearchCV`, a hyperparameter search estimator.

``TuneSearchCV`` behaves like scikit-learn's ``GridSearchCV`` (same ``cv_results_``,
``best_*`` attributes, refit and delegation) but draws its candidates from a tunelab
study, so any tunelab sampler chooses them and any pruner stops hopeless ones after
their first folds.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.ma import MaskedArray
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.metrics import check_scoring
from sklearn.utils import _safe_indexing, get_tags, indexable
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

from tunelab import samplers
from tunelab._validation import is_int, is_real
from tunelab.evaluation import evaluate
from tunelab.evaluation._cv import make_splits
from tunelab.evaluation.metrics import EstimatorMetric, Metric, get_metric
from tunelab.exceptions import TrialPruned, TunelabError
from tunelab.pruners import BasePruner, NopPruner, SuccessiveHalvingPruner
from tunelab.space import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    SearchSpace,
    space_from_dict,
)
from tunelab.study import Study, create_study, trials_dataframe
from tunelab.trial import BaseTrial, FrozenTrial, StudyDirection, TrialState

__all__ = ["FitFailedError", "TuneSearchCV"]

# The user attribute in which each trial keeps its per-fold results, so that
# cv_results_ can be rebuilt from the study alone, whichever process ran the trial.
CV_ATTR = "sklearn_cv"
# The user attribute holding the resource a trial was last evaluated at (with ``resource``).
RESOURCE_ATTR = "sklearn_resource"
# Preferred default samplers, used as soon as tunelab.samplers exports them.
_DEFAULT_SAMPLERS = ("AutoSampler", "TPESampler")

Split = tuple[np.ndarray, np.ndarray]
NamedMetric = Metric | EstimatorMetric


class FitFailedError(TunelabError):
    """Some fits of a trial failed (with a numeric ``error_score``); the trial is FAIL."""


@dataclass(frozen=True)
class _Scoring:
    """The metrics to compute, by the names ``cv_results_`` uses, and the one to optimise."""

    specs: dict[str, Any]
    multimetric: bool
    refit_metric: str

    def metrics(self) -> list[NamedMetric]:
        """The metrics, each named as ``cv_results_`` names it."""
        return [
            dataclasses.replace(get_metric(spec), name=name) for name, spec in self.specs.items()
        ]


@dataclass(frozen=True)
class _Plan:
    """Validated settings of one fit."""

    space: SearchSpace
    scoring: _Scoring
    n_jobs: int
    seed: int | None


@dataclass(frozen=True)
class _Fidelity:
    """How a trial grows its resource, validated at fit.

    Attributes:
        name: ``"n_samples"`` or the estimator parameter set to the resource.
        schedule: The resources a trial is evaluated at, increasing; the last
            is ``max_resources``.
        warm_start: Whether each fold's model is refit with ``warm_start=True``
            to continue from the previous resource instead of starting over.
        warm_start_param: The ``warm_start`` parameter to set (for pipelines,
            with its step prefix).
        n_samples: Rows of the data (the ``n_samples`` resource is a fraction of it).
        orders: Per split, the training rows in the random order subsamples take them.
    """

    name: str
    schedule: tuple[int, ...]
    warm_start: bool = False
    warm_start_param: str = ""
    n_samples: int = 0
    orders: tuple[np.ndarray, ...] = ()

    def train_rows(self, split: int, train: np.ndarray, resource: int) -> np.ndarray:
        """The training rows of ``split`` used at ``resource``."""
        if self.name != "n_samples":
            return train
        # Each fold gets the data's fraction resource / n_samples of its training rows.
        count = max(1, round(len(train) * resource / self.n_samples))
        return np.sort(self.orders[split][:count])


@dataclass(frozen=True)
class _CVObjective:
    """One trial: set the sampled parameters, cross-validate fold by fold, record every fold.

    Module-level and made of picklable parts so that worker processes can run it.
    Folds run one :func:`tunelab.evaluate` call each, on the splits fixed at fit
    time, so that a failed fold gets ``error_score`` while the others keep their
    scores, and a pruned trial keeps the folds it finished.
    """

    estimator: Any
    space: SearchSpace
    X: Any
    y: Any
    splits: list[Split]
    scoring: _Scoring
    sample_weight: Any
    error_score: float | str
    return_train_score: bool
    fidelity: _Fidelity | None = None

    def __call__(self, trial: BaseTrial) -> float:
        model = clone(self.estimator).set_params(**self.space.suggest(trial))
        if self.fidelity is not None:
            return self._run_stages(trial, model, self.fidelity)
        metrics = self.scoring.metrics()
        record = _empty_record([m.name for m in metrics], self.return_train_score)
        optimised = record["test"][self.scoring.refit_metric]
        for step, (train, test) in enumerate(self.splits):
            self._run_fold(model, train, test, metrics, record)
            if step == len(self.splits) - 1 or any(record["error"]):
                continue
            trial.report(float(np.mean(optimised)), step)
            if trial.should_prune():
                trial.set_user_attr(CV_ATTR, record)
                raise TrialPruned(f"pruned after fold {step + 1} of {len(self.splits)}")
        trial.set_user_attr(CV_ATTR, record)
        failed = [f"fold {i}: {error}" for i, error in enumerate(record["error"]) if error]
        if failed:
            raise FitFailedError(
                f"{len(failed)} of {len(self.splits)} fits failed: {'; '.join(failed)}"
            )
        return float(np.mean(optimised))

    def _run_stages(self, trial: BaseTrial, model: Any, fidelity: _Fidelity) -> float:
        """Cross-validate at each resource of the schedule, reporting each mean score."""
        metrics = self.scoring.metrics()
        if fidelity.warm_start:
            model.set_params(**{fidelity.warm_start_param: True})
        # With warm start each fold keeps its model from one resource to the next.
        models = [clone(model) for _ in self.splits]
        record: dict[str, Any] = {}
        reached = fidelity.schedule[0]
        for stage, resource in enumerate(fidelity.schedule):
            reached = resource
            record = _empty_record([m.name for m in metrics], self.return_train_score)
            for split, (train, test) in enumerate(self.splits):
                fold_model = models[split] if fidelity.warm_start else clone(model)
                if fidelity.name != "n_samples":
                    fold_model.set_params(**{fidelity.name: resource})
                rows = fidelity.train_rows(split, train, resource)
                self._fit_and_score(fold_model, rows, test, metrics, record)
            trial.set_user_attr(CV_ATTR, record)
            trial.set_user_attr(RESOURCE_ATTR, resource)
            if any(record["error"]):
                break
            score = float(np.mean(record["test"][self.scoring.refit_metric]))
            trial.report(score, resource)
            if stage < len(fidelity.schedule) - 1 and trial.should_prune():
                raise TrialPruned(f"pruned at {fidelity.name}={resource}")
        failed = [f"fold {i}: {error}" for i, error in enumerate(record["error"]) if error]
        if failed:
            raise FitFailedError(
                f"{len(failed)} of {len(self.splits)} fits failed at {fidelity.name}="
                f"{reached}: {'; '.join(failed)}"
            )
        return float(np.mean(record["test"][self.scoring.refit_metric]))

    def _fit_and_score(
        self,
        model: Any,
        train: np.ndarray,
        test: np.ndarray,
        metrics: list[NamedMetric],
        record: dict[str, Any],
    ) -> None:
        """Fit ``model`` itself (so that a warm-started one continues) and score one fold."""
        start = time.perf_counter()
        try:
            X, y = _safe_indexing(self.X, train), _safe_indexing(self.y, train)
            weight = None if self.sample_weight is None else np.asarray(self.sample_weight)
            kwargs = {} if weight is None else {"sample_weight": weight[train]}
            model.fit(X, y, **kwargs)
            fit_time = time.perf_counter() - start
            start = time.perf_counter()
            X_test, y_test = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
            test_weight = None if weight is None else weight[test]
            scores = {m.name: float(m(model, X_test, y_test, test_weight)) for m in metrics}
            score_time = time.perf_counter() - start
            train_scores = (
                {m.name: float(m(model, X, y, kwargs.get("sample_weight"))) for m in metrics}
                if self.return_train_score
                else {}
            )
        except Exception as exc:
            if self.error_score == "raise":
                raise
            _add_fold(record, time.perf_counter() - start, 0.0, f"{type(exc).__name__}: {exc}")
            return
        _add_fold(record, fit_time, score_time, None, scores, train_scores)

    def _run_fold(
        self,
        model: Any,
        train: np.ndarray,
        test: np.ndarray,
        metrics: list[NamedMetric],
        record: dict[str, Any],
    ) -> None:
        start = time.perf_counter()
        try:
            result = evaluate(
                model,
                self.X,
                self.y,
                cv=[(train, test)],
                metrics=metrics,
                sample_weight=self.sample_weight,
                prune=False,
                return_estimators=self.return_train_score,
            )
            train_scores = (
                self._train_scores(result.estimators[0], train, metrics)
                if self.return_train_score
                else {}
            )
        except Exception as exc:
            if self.error_score == "raise":
                raise
            _add_fold(record, time.perf_counter() - start, 0.0, f"{type(exc).__name__}: {exc}")
            return
        fold = result.folds[0]
        _add_fold(record, fold.fit_time, fold.score_time, None, fold.scores, train_scores)

    def _train_scores(
        self, fitted: Any, train: np.ndarray, metrics: list[NamedMetric]
    ) -> dict[str, float]:
        X, y = _safe_indexing(self.X, train), _safe_indexing(self.y, train)
        weight = None if self.sample_weight is None else np.asarray(self.sample_weight)[train]
        return {m.name: float(m(fitted, X, y, weight)) for m in metrics}


def _empty_record(names: list[str], with_train: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "fit_time": [],
        "score_time": [],
        "error": [],
        "test": {name: [] for name in names},
    }
    if with_train:
        record["train"] = {name: [] for name in names}
    return record


def _add_fold(
    record: dict[str, Any],
    fit_time: float,
    score_time: float,
    error: str | None,
    test: Mapping[str, float] | None = None,
    train: Mapping[str, float] | None = None,
) -> None:
    """Append one fold; a failed fold (no scores given) stores None scores."""
    record["fit_time"].append(fit_time)
    record["score_time"].append(score_time)
    record["error"].append(error)
    for part, scores in (("test", test), ("train", train)):
        for name, column in record.get(part, {}).items():
            column.append(None if scores is None else scores[name])


# -- validation -------------------------------------------------------------------------------


def _search_space(param_space: Any) -> SearchSpace:
    """A :class:`SearchSpace` from distributions, RandomizedSearchCV's form or the dict form.

    Each parameter may be a tunelab distribution, a list of choices or a
    ``scipy.stats`` distribution (as ``RandomizedSearchCV`` takes them); a
    mapping of the declarative form (``{"float": [low, high]}``...) goes to
    :func:`~tunelab.space.space_from_dict`, whose ``when`` makes parameters
    conditional.
    """
    if isinstance(param_space, SearchSpace):
        return param_space
    if isinstance(param_space, Mapping) and param_space:
        converted = {str(name): _distribution(name, d) for name, d in param_space.items()}
        kinds = {d is not None for d in converted.values()}
        if kinds == {True}:
            return SearchSpace({name: d for name, d in converted.items() if d is not None})
        if kinds == {True, False}:
            raise ValueError(
                "param_space: give every parameter as a distribution (tunelab or scipy.stats) "
                "or a list of choices, or every parameter in the dict form "
                "({'float': [low, high]}, ...), not a mix"
            )
    return space_from_dict(param_space, where="param_space")


def _distribution(name: str, spec: Any) -> BaseDistribution | None:
    """``spec`` as a tunelab distribution, or None when it is in the declarative dict form."""
    if isinstance(spec, BaseDistribution):
        return spec
    if isinstance(spec, list | tuple | np.ndarray):
        choices = [c.item() if isinstance(c, np.generic) else c for c in spec]
        if not choices:
            raise ValueError(f"param_space[{name!r}]: the list of choices is empty")
        return CategoricalDistribution(choices)
    if hasattr(spec, "rvs") and hasattr(spec, "ppf") and hasattr(spec, "support"):
        return _from_scipy(name, spec)
    return None


# Unbounded scipy.stats distributions are searched over their central quantiles.
_TAIL = 5e-4


def _from_scipy(name: str, dist: Any) -> BaseDistribution:
    """The range of a frozen ``scipy.stats`` distribution, searched by tunelab's sampler.

    Model-based samplers place their own density on the range, so only the
    distribution's support is kept: the whole of it when finite, else its
    central 99.9 %. A log scale is used for ``loguniform`` and for positive
    ranges spanning two decades or more. Discrete distributions give integers.
    """
    low, high = (float(v) for v in dist.support())
    if not np.isfinite(low):
        low = float(dist.ppf(_TAIL))
    if not np.isfinite(high):
        high = float(dist.ppf(1 - _TAIL))
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(
            f"param_space[{name!r}]: the scipy.stats distribution has no usable range "
            f"({low}, {high})"
        )
    family = getattr(getattr(dist, "dist", None), "name", "")
    log = family in ("loguniform", "reciprocal") or (low > 0 and high / low >= 100)
    if hasattr(dist, "pmf"):
        return IntDistribution(int(np.ceil(low)), int(np.floor(high)), log=log and low >= 1)
    return FloatDistribution(low, high, log=log)


def _check_param_names(space: SearchSpace, estimator: Any) -> None:
    valid = estimator.get_params(deep=True)
    unknown = [name for name in space.distributions if name not in valid]
    if unknown:
        raise ValueError(
            f"param_space: {unknown} are not parameters of {type(estimator).__name__}; "
            f"valid names: {sorted(valid)}"
        )


def _scoring_specs(scoring: Any, estimator: Any) -> tuple[dict[str, Any], bool]:
    """Metric name -> what :func:`get_metric` resolves, and whether there are several."""
    if scoring is None:
        return {"score": check_scoring(estimator)}, False
    if isinstance(scoring, str) or callable(scoring):
        return {"score": scoring}, False
    if isinstance(scoring, Mapping):
        if scoring and all(isinstance(name, str) for name in scoring):
            return dict(scoring), True
    elif isinstance(scoring, list | tuple | set):
        names = list(scoring)
        if names and all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return {name: name for name in names}, True
    raise ValueError(
        "scoring must be None (the estimator's score method), a metric name, a callable "
        "scorer(estimator, X, y), a non-empty list of distinct metric names, or a dict of "
        f"name -> metric name or scorer; got {scoring!r}"
    )


def _make_scoring(scoring: Any, refit: Any, estimator: Any) -> _Scoring:
    specs, multimetric = _scoring_specs(scoring, estimator)
    for spec in specs.values():
        try:
            get_metric(spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scoring: {exc}") from None
    names = list(specs)
    if multimetric:
        if not (isinstance(refit, str) and refit in specs):
            raise ValueError(
                f"refit must name the metric to optimise, one of {names}, when scoring "
                f"holds several metrics; got {refit!r}"
            )
        return _Scoring(specs, True, refit)
    if not isinstance(refit, bool | np.bool_):
        raise ValueError(
            f"refit must be True or False with a single metric; got {refit!r} "
            "(name a metric only when scoring is a list or dict)"
        )
    return _Scoring(specs, False, "score")


def _check_int(name: str, value: Any, minimum: int, extra: str = "") -> None:
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}; got {value!r}")


def _n_jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return 1
    if n_jobs == -1 and not isinstance(n_jobs, bool):
        return -1
    _check_int("n_jobs", n_jobs, 1, ", -1 (one per CPU) or None (1)")
    return int(n_jobs)


def _seed(random_state: Any) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    _check_int("random_state", random_state, 0, ", a numpy RandomState or None")
    return int(random_state)


def _check_options(search: TuneSearchCV) -> None:
    if search.n_trials is not None:
        _check_int("n_trials", search.n_trials, 1, " or None (until timeout or the sampler stops)")
    timeout = search.timeout
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, numbers.Real)
        or not np.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None; got {timeout!r}")
    error_score = search.error_score
    if error_score != "raise" and (not is_real(error_score)):
        raise ValueError(f"error_score must be 'raise' or a number; got {error_score!r}")
    if not isinstance(search.return_train_score, bool | np.bool_):
        raise ValueError(
            f"return_train_score must be True or False; got {search.return_train_score!r}"
        )
    if not isinstance(search.verbose, numbers.Integral) or search.verbose < 0:
        raise ValueError(f"verbose must be an integer >= 0 or a bool; got {search.verbose!r}")


def _check_study_options(search: TuneSearchCV) -> None:
    if not hasattr(search.estimator, "fit"):
        raise ValueError(f"estimator must have a fit method; got {search.estimator!r}")
    if search.sampler is not None and not isinstance(search.sampler, samplers.BaseSampler):
        raise ValueError(f"sampler must be a tunelab sampler or None; got {search.sampler!r}")
    if search.pruner is not None and not isinstance(search.pruner, BasePruner):
        raise ValueError(f"pruner must be a tunelab pruner or None; got {search.pruner!r}")
    if search.study is None:
        return
    if not isinstance(search.study, Study):
        raise ValueError(f"study must be a tunelab Study or None; got {search.study!r}")
    if search.study.directions != [StudyDirection.MAXIMIZE]:
        raise ValueError(
            "study must have the single direction 'maximize' (scores are higher-is-better)"
        )
    if search.sampler is not None or search.pruner is not None or search.random_state is not None:
        raise ValueError(
            "with a study, leave sampler, pruner and random_state as None: "
            "the study's own sampler and pruner are used"
        )


def _warm_start_param(estimator: Any, name: str) -> str:
    """The ``warm_start`` parameter that continues training at a larger ``name``, or "".

    Warm start is used only where refitting with a larger value and
    ``warm_start=True`` adds to the model exactly what a fresh fit at that
    value would have: more trees in an ensemble (``n_estimators``), more
    boosting rounds in histogram gradient boosting (``max_iter``). Elsewhere
    (``max_iter`` of a linear model or an MLP) a warm start restarts the
    iterations from the previous solution, which is not the same model.
    """
    prefix, _, leaf = name.rpartition("__")
    params = estimator.get_params(deep=True)
    owner = params[prefix] if prefix else estimator
    switch = f"{prefix}__warm_start" if prefix else "warm_start"
    if switch not in params:
        return ""
    boosting_rounds = leaf == "max_iter" and type(owner).__name__.startswith("HistGradientBoosting")
    return switch if leaf == "n_estimators" or boosting_rounds else ""


def _resource_bounds(search: TuneSearchCV, X: Any, y: Any, n_splits: int) -> tuple[int, int]:
    """``(min_resources, max_resources)`` with ``"smallest"`` and ``"auto"`` resolved."""
    name = search.resource
    n_samples = int(_num_samples(X))
    if search.min_resources == "smallest":
        low = 1
        if name == "n_samples":
            # As scikit-learn's halving searches: two rows per fold (and per class).
            low = 2 * n_splits
            if get_tags(search.estimator).estimator_type == "classifier":
                low *= len(np.unique(np.asarray(y)))
    else:
        _check_int("min_resources", search.min_resources, 1, " or 'smallest'")
        low = int(search.min_resources)
    if search.max_resources == "auto":
        if name == "n_samples":
            high = n_samples
        else:
            high = search.estimator.get_params(deep=True)[name]
            if not is_int(high):
                raise ValueError(
                    f"max_resources='auto' takes the estimator's own {name}, which is "
                    f"{high!r}; give max_resources as an integer"
                )
    else:
        _check_int("max_resources", search.max_resources, 1, " or 'auto'")
        high = int(search.max_resources)
    if name == "n_samples" and high > n_samples:
        raise ValueError(
            f"max_resources must be at most the number of samples ({n_samples}) with "
            f"resource='n_samples'; got {high}"
        )
    if low > high:
        raise ValueError(
            f"min_resources ({low}) must not exceed max_resources ({high}) for resource={name!r}"
        )
    return low, int(high)


def _fidelity(
    search: TuneSearchCV, space: SearchSpace, X: Any, y: Any, splits: list[Split], seed: int | None
) -> _Fidelity | None:
    """The validated ``resource`` settings, or None without a resource."""
    name = search.resource
    if name is None:
        return None
    params = search.estimator.get_params(deep=True)
    if not isinstance(name, str) or (name != "n_samples" and name not in params):
        raise ValueError(
            "resource must be None, 'n_samples' or the name of an integer parameter of "
            f"{type(search.estimator).__name__} (such as max_iter or n_estimators); got "
            f"{name!r}; its parameters: {sorted(params)}"
        )
    if name in space.distributions:
        raise ValueError(
            f"resource={name!r} is also in param_space: the search sets the resource "
            "itself; remove it from param_space"
        )
    _check_int("factor", search.factor, 2, " (each resource is factor times the last)")
    low, high = _resource_bounds(search, X, y, len(splits))
    schedule = []
    resource = low
    while resource < high:
        schedule.append(resource)
        resource *= int(search.factor)
    schedule.append(high)
    if name == "n_samples":
        rng = np.random.default_rng(seed)
        orders = tuple(rng.permutation(train) for train, _ in splits)
        return _Fidelity(name, tuple(schedule), n_samples=int(_num_samples(X)), orders=orders)
    switch = _warm_start_param(search.estimator, name)
    return _Fidelity(name, tuple(schedule), warm_start=bool(switch), warm_start_param=switch)


def _default_sampler(seed: int | None) -> samplers.BaseSampler:
    for name in _DEFAULT_SAMPLERS:
        factory = getattr(samplers, name, None)
        if factory is not None:
            sampler: samplers.BaseSampler = factory(seed=seed)
            return sampler
    return samplers.RandomSampler(seed=seed)


# -- results ----------------------------------------------------------------------------------


def _fold_matrix(
    trials: list[FrozenTrial], path: tuple[str, ...], n_splits: int, fill: float
) -> np.ndarray:
    """Candidates x splits of ``record[path...]``; NaN for folds never run, ``fill`` for failed."""
    out = np.full((len(trials), n_splits), np.nan)
    for row, trial in enumerate(trials):
        values = trial.user_attrs.get(CV_ATTR)
        if not values:
            continue
        for key in path:
            values = values[key]
        for col, value in enumerate(values):
            out[row, col] = fill if value is None else value
    return out


def _rank(means: np.ndarray, full: np.ndarray | None = None) -> np.ndarray:
    """Rank 1 for the highest mean; NaN means tie with each other below every number.

    With ``full`` (whether each trial reached ``max_resources``), trials that
    did not rank after those that did: a score at a smaller resource is not
    comparable.
    """
    if full is not None and not full.all() and np.isfinite(means).any():
        spread = np.nanmax(means) - np.nanmin(means) + 1.0
        means = np.where(full, means, means - spread)
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return rankdata(-filled, method="min").astype(np.int32)


def _store(
    results: dict[str, Any],
    key: str,
    matrix: np.ndarray,
    *,
    splits: bool,
    rank: bool,
    full: np.ndarray | None = None,
) -> None:
    if splits:
        for i in range(matrix.shape[1]):
            results[f"split{i}_{key}"] = matrix[:, i]
    means = matrix.mean(axis=1)
    results[f"mean_{key}"] = means
    results[f"std_{key}"] = matrix.std(axis=1)
    if rank:
        results[f"rank_{key}"] = _rank(means, full)


def _param_columns(params: list[dict[str, Any]]) -> dict[str, MaskedArray]:
    """``param_<name>`` masked arrays; masked where a candidate lacks the parameter."""
    columns = {}
    for name in dict.fromkeys(name for p in params for name in p):
        present = {i: p[name] for i, p in enumerate(params) if name in p}
        try:
            inferred = np.asarray(list(present.values()))
            dtype = object if inferred.dtype.kind == "U" or inferred.ndim != 1 else inferred.dtype
        except ValueError:
            dtype = object
        column = MaskedArray(np.empty(len(params), dtype=dtype), mask=True)
        for i, value in present.items():
            column[i] = value
        columns[f"param_{name}"] = column
    return columns


def _cv_results(
    trials: list[FrozenTrial],
    scoring: _Scoring,
    n_splits: int,
    error_score: Any,
    train: bool,
    max_resources: int | None = None,
) -> dict[str, Any]:
    """``cv_results_`` in GridSearchCV's layout, one row per trial in trial order.

    With a resource, ``n_resources`` holds the resource each trial was last
    evaluated at, and its fold scores are those at that resource.
    """
    fill = np.nan if error_score == "raise" else float(error_score)
    results: dict[str, Any] = {}
    full = None
    if max_resources is not None:
        reached = np.array([t.user_attrs.get(RESOURCE_ATTR, 0) for t in trials], dtype=np.int64)
        results["n_resources"] = reached
        full = reached == max_resources
    for key in ("fit_time", "score_time"):
        _store(results, key, _fold_matrix(trials, (key,), n_splits, 0.0), splits=False, rank=False)
    params = [dict(t.params) for t in trials]
    results.update(_param_columns(params))
    results["params"] = params
    for name in scoring.specs:
        for part in ("test", "train") if train else ("test",):
            matrix = _fold_matrix(trials, (part, name), n_splits, fill)
            _store(results, f"{part}_{name}", matrix, splits=True, rank=part == "test", full=full)
    return results


def _fold_errors(trials: list[FrozenTrial]) -> Counter[str]:
    return Counter(
        error
        for t in trials
        for error in (t.user_attrs.get(CV_ATTR) or {}).get("error", [])
        if error
    )


def _no_success_message(trials: list[FrozenTrial]) -> str:
    states = Counter(t.state.name for t in trials)
    reasons = _fold_errors(trials)
    reasons.update(
        t.fail_reason or "unknown"
        for t in trials
        if t.state == TrialState.FAIL and not (t.user_attrs.get(CV_ATTR) or {}).get("error")
    )
    lines = "\n".join(f"  {count} x {reason}" for reason, count in reasons.most_common())
    return f"no trial completed ({dict(states) or 'none ran'}); failures:\n{lines}"


def _no_success_error(trials: list[FrozenTrial]) -> Exception:
    """Why no trial completed, as an exception of the fits' own type when they share one.

    A ``TypeError`` raised by every fit (say, for data the estimator cannot
    take) stays a ``TypeError``, so callers catch what the estimator would
    have raised; mixed or other failures are a ``ValueError``.
    """
    kinds = {error.split(":", 1)[0] for error in _fold_errors(trials)}
    if (
        len(kinds) == 1
        and kinds <= {"TypeError", "ValueError"}
        and all(t.state == TrialState.FAIL for t in trials)
    ):
        return (
            TypeError(_no_success_message(trials))
            if kinds == {"TypeError"}
            else ValueError(_no_success_message(trials))
        )
    return ValueError(_no_success_message(trials))


def _warn_failed_fits(trials: list[FrozenTrial], n_splits: int, error_score: Any) -> None:
    errors = _fold_errors(trials)
    if not errors:
        return
    lines = "\n".join(f"  {count} x {reason}" for reason, count in errors.most_common())
    warnings.warn(
        f"{errors.total()} of {len(trials) * n_splits} fits failed; their scores are set to "
        f"error_score={error_score!r} and their trials are FAIL. Reasons:\n{lines}",
        FitFailedWarning,
        stacklevel=3,
    )


# -- the estimator ----------------------------------------------------------------------------


def _refit_required(search: TuneSearchCV, attr: str) -> None:
    if not search.refit:
        raise AttributeError(
            f"{attr} needs refit=True (or a metric name): this {type(search).__name__} keeps "
            "no estimator refit on the best parameters; build one from best_params_"
        )


def _best_has(attr: str) -> Callable[[TuneSearchCV], bool]:
    """Whether the best (or, before fit, the given) estimator has ``attr``."""

    def check(search: TuneSearchCV) -> bool:
        _refit_required(search, attr)
        owner = search.__dict__.get("best_estimator_", search.estimator)
        getattr(owner, attr)
        return True

    return check


def _refitted(search: TuneSearchCV) -> bool:
    _refit_required(search, "score")
    return True


def _joblib_dask_executor() -> Any:
    """A DaskExecutor on the client of joblib's active "dask" backend, or None."""
    from joblib.parallel import get_active_backend

    client = getattr(get_active_backend()[0], "client", None)
    if client is None:
        return None
    from tunelab.execution import DaskExecutor

    return DaskExecutor(client)


class TuneSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Hyperparameter search with cross-validation, driven by a tunelab study.

    Each trial sets the parameters its sampler chose on a clone of ``estimator``
    and cross-validates it with :func:`tunelab.evaluate` on splits fixed once per
    fit, so every candidate sees the same folds. After each fold but the last the
    running mean of the optimised metric is reported to the study, so a pruner
    can stop the trial early. Results are laid out like ``GridSearchCV``'s.

    Args:
        estimator: The scikit-learn estimator (or pipeline) to tune.
        param_space: Parameter name to a tunelab distribution
            (``FloatDistribution(1e-3, 10, log=True)``...), a list of choices or
            a ``scipy.stats`` distribution (``loguniform(1e-3, 10)``, as
            ``RandomizedSearchCV`` takes them: its range is searched), or the
            declarative dict form of :func:`tunelab.space.space_from_dict`,
            whose ``when`` makes a parameter conditional.
        n_trials: Trials to run; None runs until ``timeout`` or until the
            sampler stops the study (a ``GridSampler`` does once every point has
            a trial that did not fail).
        cv: Folds: an int (stratified for classifiers), a splitter or index pairs.
        scoring: None (the estimator's ``score``), a metric name, a callable
            ``scorer(estimator, X, y)``, or several metrics as a list of names or
            a dict of name to metric; with several, ``refit`` names the one to
            optimise.
        sampler: The tunelab sampler (copied at fit); by default the best one
            tunelab offers (AutoSampler, else TPESampler, else RandomSampler).
        pruner: The tunelab pruner (copied at fit); none by default.
        n_jobs: Trials run at once in worker processes; -1 for one per CPU.
        refit: Refit the best parameters on all the data (True/False); with
            several metrics, the name of the metric to optimise (and refit on).
        random_state: Seed of the sampler (the default one, or a copy of
            ``sampler`` reseeded); None for a fresh stream.
        timeout: Seconds after which no new trial starts.
        study: A study to run the trials in (single direction ``maximize``),
            for instance a persistent one; its sampler and pruner are used.
            ``cv_results_`` covers the trials of the latest fit only. A study
            cannot be copied, so a search given one cannot be cloned or pickled.
        error_score: Score of a fold whose fit or scoring raised (its trial is
            FAIL with the reason), or ``"raise"`` to raise the error.
        return_train_score: Also score each fold's model on its training rows.
        verbose: 0 silent, 1 a progress bar, 2 also a line per trial.
        resource: What a trial grows to show early whether it is promising,
            as in scikit-learn's ``HalvingRandomSearchCV``: ``"n_samples"``
            (the share of the training rows), or the name of an integer
            parameter of ``estimator`` such as ``"n_estimators"`` or
            ``"max_iter"`` (for histogram gradient boosting, the boosting
            rounds). Each trial is cross-validated at ``min_resources``,
            ``factor`` times that, and so on up to ``max_resources``; the mean
            score at each is reported to the study at the step equal to the
            resource, so the pruner can stop it there. Ensembles
            (``n_estimators``) and histogram gradient boosting (``max_iter``)
            continue their fit with ``warm_start=True`` instead of starting
            over. None (default): every trial is trained in full.
        min_resources: The first resource, or ``"smallest"``: 1, or with
            ``"n_samples"`` two rows per fold (and per class for classifiers).
        max_resources: The last resource, at which completed trials are
            scored, or ``"auto"``: the number of rows with ``"n_samples"``,
            else the estimator's own value of the parameter.
        factor: Each resource is ``factor`` times the previous one (an integer
            >= 2). Without a ``pruner`` (and ``study``), a
            :class:`~tunelab.pruners.SuccessiveHalvingPruner` with
            ``min_resource=min_resources`` and ``reduction_factor=factor``
            prunes; a given pruner is used as it is.

    Attributes:
        cv_results_: Dict of arrays, one entry per trial, keyed like
            ``GridSearchCV.cv_results_``; pruned trials have NaN for the folds
            they did not run.
        trials_: The trials of the latest fit, in order (frozen copies, kept
            when the search is pickled).
        n_trials_: How many trials the latest fit ran.
        best_trial_: The best completed trial.
        best_index_: Row of the best completed trial in ``cv_results_``.
        best_params_: Its parameters.
        best_score_: Its mean test score of the optimised metric.
        best_estimator_: The estimator refit on all the data (when ``refit``).
        refit_time_: Seconds the refit took.
        n_splits_: Number of folds.
        n_resources_: With ``resource``, the resources each trial is
            evaluated at, in order (``cv_results_["n_resources"]`` holds the
            one each trial reached).
        min_resources_: With ``resource``, the first of them.
        max_resources_: With ``resource``, the last of them.
        scorer_: The scorer, or a dict of them with several metrics.
        multimetric_: Whether several metrics were computed.
        study_: The study the trials ran in; not pickled with the search (a
            study is a live handle on its storage).
    """

    def __init__(
        self,
        estimator: Any,
        param_space: Any,
        *,
        n_trials: int | None = 10,
        cv: Any = 5,
        scoring: Any = None,
        sampler: samplers.BaseSampler | None = None,
        pruner: BasePruner | None = None,
        n_jobs: int | None = 1,
        refit: bool | str = True,
        random_state: int | np.random.RandomState | None = None,
        timeout: float | None = None,
        study: Study | None = None,
        error_score: float | str = np.nan,
        return_train_score: bool = False,
        verbose: int = 0,
        resource: str | None = None,
        min_resources: int | str = "smallest",
        max_resources: int | str = "auto",
        factor: int = 3,
    ) -> None:
        self.estimator = estimator
        self.param_space = param_space
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.pruner = pruner
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state
        self.timeout = timeout
        self.study = study
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.verbose = verbose
        self.resource = resource
        self.min_resources = min_resources
        self.max_resources = max_resources
        self.factor = factor

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.target_tags.required = True
        tags.target_tags.multi_output = inner.target_tags.multi_output
        return tags

    def __getstate__(self) -> dict[str, Any]:
        # A study holds locks and storage connections; the results are kept in cv_results_.
        state = dict(super().__getstate__())
        state.pop("study_", None)
        return state

    # -- fit --
    def fit(self, X: Any, y: Any, *, groups: Any = None, **fit_params: Any) -> TuneSearchCV:
        """Run the trials, fill ``cv_results_`` and the ``best_*`` attributes, and refit.

        Args:
            X: Features (array, sparse matrix, DataFrame or list).
            y: Targets.
            groups: Group labels for group splitters.
            **fit_params: ``sample_weight``, used when fitting and scoring
                every fold and the refit (the only fit parameter
                :func:`tunelab.evaluate` passes on).

        Returns:
            self.

        Raises:
            ValueError: A parameter is invalid (the message names it), or no
                trial completed (the message lists why).
            TypeError: A fit parameter other than ``sample_weight``.
        """
        for name in (
            "best_estimator_",
            "refit_time_",
            "feature_names_in_",
            "n_resources_",
            "min_resources_",
            "max_resources_",
        ):
            self.__dict__.pop(name, None)
        plan = self._plan()
        X, y, sample_weight = self._check_data(X, y, fit_params)
        splits = make_splits(self.estimator, X, y, self.cv, groups)
        fidelity = _fidelity(self, plan.space, X, y, splits, plan.seed)
        objective = _CVObjective(
            clone(self.estimator),
            plan.space,
            X,
            y,
            splits,
            plan.scoring,
            sample_weight,
            self.error_score,
            bool(self.return_train_score),
            fidelity,
        )
        study = self._make_study(plan.seed, fidelity)
        if fidelity is not None:
            self.n_resources_ = list(fidelity.schedule)
            self.min_resources_ = fidelity.schedule[0]
            self.max_resources_ = fidelity.schedule[-1]
        self._set_results(self._run(study, objective, plan.n_jobs), plan.scoring, len(splits))
        self.study_ = study
        self.n_splits_ = len(splits)
        self.multimetric_ = plan.scoring.multimetric
        metrics = plan.scoring.metrics()
        self.scorer_ = {m.name: m for m in metrics} if self.multimetric_ else metrics[0]
        if self.refit:
            self._refit(X, y, sample_weight)
        return self

    def _plan(self) -> _Plan:
        _check_options(self)
        _check_study_options(self)
        space = _search_space(self.param_space)
        _check_param_names(space, self.estimator)
        scoring = _make_scoring(self.scoring, self.refit, self.estimator)
        return _Plan(space, scoring, _n_jobs(self.n_jobs), _seed(self.random_state))

    def _check_data(self, X: Any, y: Any, fit_params: dict[str, Any]) -> tuple[Any, Any, Any]:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(trials are scored against y)"
            )
        unknown = sorted(set(fit_params) - {"sample_weight"})
        if unknown:
            raise TypeError(
                f"fit() got unsupported fit parameter(s) {unknown}; accepted: groups, "
                "sample_weight (tunelab.evaluate passes only sample_weight to the estimator)"
            )
        X, y, sample_weight = indexable(X, y, fit_params.get("sample_weight"))
        return X, y, sample_weight

    def _make_study(self, seed: int | None, fidelity: _Fidelity | None) -> Study:
        if self.study is not None:
            return self.study
        if self.sampler is None:
            sampler = _default_sampler(seed)
        else:
            sampler = copy.deepcopy(self.sampler)
            if seed is not None:
                sampler.reseed_rng(seed)
        pruner: BasePruner
        if self.pruner is not None:
            pruner = copy.deepcopy(self.pruner)
        elif fidelity is not None:
            # The pruner's rungs are the schedule's resources.
            pruner = SuccessiveHalvingPruner(
                min_resource=fidelity.schedule[0], reduction_factor=int(self.factor)
            )
        else:
            # None means no pruning here, not the study's default (MedianPruner, as in Optuna).
            pruner = NopPruner()
        return create_study(direction="maximize", sampler=sampler, pruner=pruner)

    def _run(self, study: Study, objective: _CVObjective, n_jobs: int) -> list[FrozenTrial]:
        """Optimise; return the trials of this run, in order."""
        numbers: set[int] = set()

        def finished(_: Study, trial: FrozenTrial) -> None:
            numbers.add(trial.number)
            if self.verbose >= 2:
                print(
                    f"[{type(self).__name__}] trial {trial.number} {trial.state.name}: "
                    f"value={trial.value} params={trial.params}"
                )

        # Under joblib.parallel_backend("dask") the trials run on that Dask cluster.
        executor = _joblib_dask_executor()
        where: dict[str, Any] = (
            {"n_jobs": n_jobs, "backend": "process"} if executor is None else {"executor": executor}
        )
        study.optimize(
            objective,
            n_trials=self.n_trials,
            timeout=self.timeout,
            catch=() if self.error_score == "raise" else (FitFailedError,),
            callbacks=[finished],
            show_progress_bar=self.verbose >= 1,
            **where,
        )
        return [t for t in study.get_trials() if t.number in numbers]

    def _set_results(self, trials: list[FrozenTrial], scoring: _Scoring, n_splits: int) -> None:
        done = [i for i, t in enumerate(trials) if t.state == TrialState.COMPLETE]
        if not done:
            raise _no_success_error(trials)
        _warn_failed_fits(trials, n_splits, self.error_score)
        results = _cv_results(
            trials,
            scoring,
            n_splits,
            self.error_score,
            bool(self.return_train_score),
            self.__dict__.get("max_resources_"),
        )
        # The best completed trial, the first one among equals (as GridSearchCV's rank 1).
        best = max(done, key=lambda i: (trials[i].value, -i))
        self.cv_results_ = results
        self.trials_ = trials
        self.n_trials_ = len(trials)
        self.best_trial_ = trials[best]
        self.best_index_ = best
        self.best_params_ = results["params"][best]
        self.best_score_ = results[f"mean_test_{scoring.refit_metric}"][best]

    def _refit(self, X: Any, y: Any, sample_weight: Any) -> None:
        model = clone(self.estimator).set_params(**self.best_params_)
        if self.resource not in (None, "n_samples"):
            model.set_params(**{self.resource: self.max_resources_})
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        start = time.perf_counter()
        model.fit(X, y, **kwargs)
        self.refit_time_ = time.perf_counter() - start
        self.best_estimator_ = model
        if hasattr(model, "feature_names_in_"):
            self.feature_names_in_ = model.feature_names_in_

    def trials_dataframe(self) -> Any:
        """The trials of the latest fit, one row each (Optuna's ``trials_dataframe`` columns).

        The per-fold record behind ``cv_results_`` is left out of the
        ``user_attrs_*`` columns.

        Raises:
            NotFittedError: Before fit.
            ImportError: pandas is not installed.
        """
        check_is_fitted(self, "trials_")
        frame = trials_dataframe(self.trials_, 1)
        return frame.drop(columns=f"user_attrs_{CV_ATTR}", errors="ignore")

    # -- delegation to best_estimator_ --
    @property
    def classes_(self) -> np.ndarray:
        """Class labels of the best estimator (classifiers refit on the best parameters)."""
        _best_has("classes_")(self)
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self) -> int:
        """Number of features the best estimator was fit on."""
        try:
            check_is_fitted(self)
        except NotFittedError as exc:
            raise AttributeError(f"{type(self).__name__} has no n_features_in_ before fit") from exc
        return int(self.best_estimator_.n_features_in_)

    @available_if(_best_has("predict"))
    def predict(self, X: Any) -> Any:
        """Predict with the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        """Class probabilities from the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    @available_if(_best_has("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        """Log class probabilities from the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_best_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        """Decision scores from the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.decision_function(X)

    @available_if(_best_has("transform"))
    def transform(self, X: Any) -> Any:
        """Transform with the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.transform(X)

    @available_if(_best_has("inverse_transform"))
    def inverse_transform(self, X: Any) -> Any:
        """Inverse-transform with the best estimator."""
        check_is_fitted(self)
        return self.best_estimator_.inverse_transform(X)

    @available_if(_refitted)
    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Score of the best estimator on ``(X, y)`` by the optimised metric (``scorer_``)."""
        check_is_fitted(self)
        scorer = self.scorer_[str(self.refit)] if isinstance(self.scorer_, dict) else self.scorer_
        return float(scorer(self.best_estimator_, X, y, sample_weight))
