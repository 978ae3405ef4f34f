"""Running a config study: its objective, opening or resuming its study."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tunelab.config._components import build_pruner, build_sampler
from tunelab.config._deploy import DeployConfig, build_trial_estimator, trial_precision
from tunelab.config._fields import ConfigError, one_line
from tunelab.config._metrics import check_metrics_fit_target
from tunelab.config._objectives import DEPLOYMENT_METRICS, Objective
from tunelab.config._study import StudyConfig
from tunelab.exceptions import StorageError
from tunelab.space import SearchSpace
from tunelab.study import Study, create_study
from tunelab.trial import BaseTrial, FrozenTrial, TrialState

_OBJECTIVE_KEYS = (
    *("data", "model", "space", "cv", "metrics"),
    *("objectives", "constraints", "deploy"),
)

# A run whose first trials all fail stops: its config cannot work as written.
FAILURES_BEFORE_STOP = 3


class ConfigObjective:
    """The objective of a config study: the cross-validated first metric of one trial's model.

    The other metrics' means are stored as the trial's user attributes. With
    ``objectives`` (a deployment-aware config) every quality metric is stored so,
    and when the config measures deployment the trial's model is then fitted once
    on every row (the model ``tunelab register`` would refit and ship, so the
    measurement describes it, not a fold's model trained on fewer rows), converted
    to ONNX at the trial's precision and measured with :func:`tunelab.deploy.measure`
    on the config's sample rows; the measurement is stored as the user attribute
    "deployment" (with "precision") and the objective returns one value per
    objective. A module-level class holding only data, so worker processes can
    unpickle it.

    Args:
        estimator: The unfitted estimator with its fixed parameters.
        space: The searched parameters.
        X: Features.
        y: Targets.
        splits: The (train, test) index pairs every trial uses.
        metrics: Quality metric names; the first is returned without ``objectives``.
        objectives: The objectives, in order; None for a ``metric``/``metrics`` config.
        model_spec: The study's "model" attribute, from which each trial's estimator
            is built (None: ``estimator`` with the trial's parameters set).
        deploy: How deployment is measured, or None.
        sample_index: Positions of the rows deployment is measured on.
    """

    def __init__(
        self,
        *,
        estimator: Any,
        space: SearchSpace,
        X: Any,
        y: Any,
        splits: Sequence[Any],
        metrics: Sequence[str],
        objectives: Sequence[Objective] | None = None,
        model_spec: Any = None,
        deploy: DeployConfig | None = None,
        sample_index: Sequence[int] = (),
    ) -> None:
        self.estimator = estimator
        self.space = space
        self.X, self.y = X, y
        self.splits = list(splits)
        self.metrics = list(metrics)
        self.objectives = None if objectives is None else list(objectives)
        self.model_spec = model_spec
        self.deploy = deploy
        self.sample_index = list(sample_index)

    @classmethod
    def from_config(cls, config: StudyConfig) -> ConfigObjective:
        """Load the data and materialise the folds of ``config``.

        Raises:
            ConfigError: The data cannot be read or split as configured.
        """
        estimator = config.model.build()
        try:
            X, y, groups = config.data.load(group_column=config.cv.group_column)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"cannot load: {one_line(exc)}", file=config.file, field="data"
            ) from None
        _check_target(config, estimator, y)
        checked = [("metrics", config.metrics)]
        if config.objectives:
            checked = [
                (f"objectives[{i}]", (o.name,))
                for i, o in enumerate(config.objectives)
                if not o.deployment
            ]
        try:
            for field, names in checked:
                check_metrics_fit_target(field, names, estimator, y)
        except ConfigError as exc:
            raise ConfigError(exc.reason, file=config.file, field=exc.field) from None
        try:
            splits = config.cv.splits(estimator, X, y, groups)
        except ConfigError as exc:
            raise ConfigError(exc.reason, file=config.file, field="cv") from None
        sample_index: list[int] = []
        if config.deploy is not None:
            _check_feature_count(config, config.deploy, X)
            sample_index = deploy_sample_index(len(y), config.deploy.sample_rows, config.seed)
        return cls(
            estimator=estimator,
            space=config.space,
            X=X,
            y=y,
            splits=splits,
            metrics=config.metrics,
            objectives=list(config.objectives) or None,
            model_spec=config.model.spec(),
            deploy=config.deploy,
            sample_index=sample_index,
        )

    def __call__(self, trial: BaseTrial) -> float | list[float]:
        """The trial's objective value(s): mean fold scores, and deployment costs."""
        from sklearn.base import clone

        from tunelab.evaluation import evaluate

        params = self.space.suggest(trial)
        deploy = None if self.deploy is None else self.deploy.spec()
        if self.model_spec is None:
            model = clone(self.estimator).set_params(**params)
        else:
            model = build_trial_estimator(self.model_spec, params, deploy)
        result = evaluate(model, self.X, self.y, cv=self.splits, metrics=self.metrics)
        if self.objectives is None:
            for name in self.metrics[1:]:
                trial.set_user_attr(name, result.mean(name))
            return result.mean(self.metrics[0])
        values: dict[str, float] = {}
        for name in self.metrics:
            values[name] = result.mean(name)
            trial.set_user_attr(name, values[name])
        if self.deploy is not None:
            measured = self._measure(model, trial_precision(params, deploy))
            trial.set_user_attr("deployment", measured)
            values.update({name: float(measured[name]) for name in DEPLOYMENT_METRICS})
        out = [values[objective.name] for objective in self.objectives]
        return out[0] if len(out) == 1 else out

    def _measure(self, model: Any, precision: str) -> dict[str, Any]:
        """Fit ``model`` on every row and measure it as served at ``precision``.

        Raises:
            ConversionError: The fitted model cannot be served as ONNX; the trial fails
                with this reason and the study goes on.
        """
        from sklearn.base import clone

        from tunelab.deploy import ConversionError, measure

        assert self.deploy is not None
        fitted = clone(model).fit(self.X, self.y)
        sample, truth = take_rows(self.X, self.sample_index), take_rows(self.y, self.sample_index)
        try:
            measurement = measure(
                fitted,
                sample,
                y=truth,
                quantize=precision == "int8",
                calls=self.deploy.calls,
                batch_rows=self.deploy.batch_rows,
                warmup=self.deploy.warmup,
                precision=precision,
            )
        except ConversionError as exc:
            raise ConversionError(
                f"the trial's model cannot be served as ONNX at {precision} precision, so its "
                f"deployment cannot be measured: {one_line(exc)}"
            ) from None
        return measurement.to_dict()


def take_rows(values: Any, index: Sequence[int]) -> Any:
    """The rows of ``values`` (a frame, series or array) at positions ``index``."""
    import numpy as np

    if hasattr(values, "iloc"):
        return values.iloc[list(index)]
    return np.asarray(values)[list(index)]


def deploy_sample_index(n_rows: int, sample_rows: int, seed: int | None) -> list[int]:
    """The rows every trial's deployment is measured on: drawn once, the same for all.

    Registering the picked trial measures its refit on the same rows.
    """
    import numpy as np

    rng = np.random.default_rng(0 if seed is None else seed)
    chosen = rng.choice(n_rows, size=min(sample_rows, n_rows), replace=False)
    return sorted(int(i) for i in chosen)


def _check_feature_count(config: StudyConfig, deploy: DeployConfig, X: Any) -> None:
    largest = deploy.max_features()
    n_features = int(X.shape[1])
    if largest is not None and largest > n_features:
        raise ConfigError(
            f"keeps up to {largest} features but the data has {n_features}; lower the bound",
            file=config.file,
            field="deploy.features",
        )


def _check_target(config: StudyConfig, estimator: Any, y: Any) -> None:
    """A target a model can learn: no missing values, and two classes or more for a classifier."""
    import pandas as pd
    from sklearn.base import is_classifier

    field = "data" if config.data.sklearn else "data.target"
    missing = int(pd.isna(pd.Series(y)).sum())
    if missing:
        raise ConfigError(
            f"{missing} of {len(y)} rows have no target value; drop those rows from the file",
            file=config.file,
            field=field,
        )
    if is_classifier(estimator):
        from sklearn.utils.multiclass import type_of_target

        classes = pd.Series(y).unique().tolist()
        # More than 20 classes averaging under ten rows each cannot be learnt or scored
        # per fold: such a target is a quantity (scikit-learn would only warn).
        if type_of_target(y) == "continuous" or len(classes) > max(20, len(y) / 10):
            raise ConfigError(
                f"the target has {len(classes)} distinct values in {len(y)} rows: it looks "
                f"like a quantity, not classes; use a regressor, not {type(estimator).__name__}",
                file=config.file,
                field=field,
            )
        if len(classes) < 2:
            raise ConfigError(
                f"the target has a single class ({classes[0]!r} in all {len(y)} rows), so "
                "every score would be meaningless: a classifier needs two classes or more",
                file=config.file,
                field=field,
            )


def open_config_study(config: StudyConfig) -> Study:
    """Create the config's study, or load it to resume when it was started from the same objective.

    The study records "model", "data", "metric" and "config" user attributes, so
    ``tunelab register STUDY`` can refit its best trial, and names its objective after
    the first metric (:meth:`~tunelab.Study.set_metric_names`), so reports and
    dashboards label it (a ``neg_*`` scorer name says the value is the negated metric).
    A config with ``objectives`` has one direction per objective, names each, and
    also records "objectives" (``[{"name", "direction"}]``), "constraints" (the
    strings) and "deploy" (the deploy block, or None).

    Raises:
        ConfigError: A study of that name exists but was started from another data
            set, model, space, folds or metrics, or not from a config.
    """
    try:
        study = create_study(
            study_name=config.study_name,
            storage=config.storage,
            sampler=build_sampler(config),
            pruner=build_pruner(config),
            directions=config.directions,
            load_if_exists=True,
        )
    except StorageError as exc:
        raise ConfigError(one_line(exc), file=config.file, field="storage") from None
    current = json.loads(json.dumps(config.to_dict()))
    _check_resumable(study, current, config.file)
    _check_directions(study, config)
    attrs = {
        "model": current["model"],
        "data": current["data"],
        "metric": config.metrics[0],
        "config": current,
    }
    if config.objectives:
        attrs.update(
            objectives=current["objectives"],
            constraints=current["constraints"],
            deploy=current["deploy"],
        )
    stored = study.user_attrs
    for key, value in attrs.items():
        if stored.get(key) != value:
            study.set_user_attr(key, value)
    if study.metric_names != config.objective_names:
        study.set_metric_names(config.objective_names)
    return study


def _check_directions(study: Study, config: StudyConfig) -> None:
    stored = [d.name.lower() for d in study.directions]
    if stored != config.directions:
        raise ConfigError(
            f"study {study.study_name!r} exists with directions {stored}, and this config "
            f"optimises {config.directions}; choose another study_name",
            file=config.file,
            field="study_name",
        )


def _check_resumable(study: Study, current: Mapping[str, Any], file: str | None) -> None:
    stored = study.user_attrs.get("config")
    name = study.study_name
    if stored is None:
        held = len(study.get_trials(deepcopy=False))
        if held:
            raise ConfigError(
                f"study {name!r} already holds {held} trials that were not started "
                "from a config; choose another study_name",
                file=file,
                field="study_name",
            )
        return
    changed = [key for key in _OBJECTIVE_KEYS if stored.get(key) != current.get(key)]
    if changed:
        raise ConfigError(
            f"study {name!r} was started with a different {', '.join(changed)}; its trials would "
            "not be comparable: restore the config or choose another study_name",
            file=file,
            field=changed[0],
        )


def run_study_config(config: StudyConfig, *, show_progress_bar: bool | None = None) -> Study:
    """Run (or resume) the study a config describes, for its budget.

    Args:
        config: From :func:`load_study_config`.
        show_progress_bar: A progress bar on stderr; by default only when it is a terminal.

    Returns:
        The study, with this call's trials added.

    Raises:
        ConfigError: The data cannot be loaded or split, or the study cannot resume.
    """
    objective = ConfigObjective.from_config(config)
    study = open_config_study(config)
    optimize_config(study, objective, config, show_progress_bar=show_progress_bar)
    return study


def optimize_config(
    study: Study,
    objective: ConfigObjective,
    config: StudyConfig,
    *,
    show_progress_bar: bool | None = None,
) -> list[FrozenTrial]:
    """Run the config's budget of trials on ``study``; a trial that raises is stored as failed.

    Some hyperparameter combinations fail for some models, so a failing trial does not
    stop the study; but when the first :data:`FAILURES_BEFORE_STOP` trials of the run
    fail and none completes, the run stops: the config cannot work as written.

    Returns:
        The failed trials of this run.

    Raises:
        ConfigError: No trial of this run completed and at least one failed; the
            message quotes the first failure.
    """
    watch = _FailureWatch()
    study.optimize(
        objective,
        n_trials=config.n_trials,
        timeout=config.timeout,
        n_jobs=config.n_jobs,
        catch=(Exception,),
        callbacks=[watch],
        show_progress_bar=show_progress_bar,
        backend="process",
    )
    if watch.failed and not watch.completed:
        first = watch.failed[0]
        reason = " ".join((first.fail_reason or "no reason recorded").split())
        raise ConfigError(
            f"all {len(watch.failed)} trials of this run failed; trial {first.number} with "
            f"{first.params}: {reason[:500]} "
            f"(every trial is stored: tunelab studies show {study.study_name})",
            file=config.file,
        )
    return watch.failed


class _FailureWatch:
    """Counts a run's finished trials and stops the study when the first ones all failed."""

    def __init__(self) -> None:
        self.completed = 0
        self.failed: list[FrozenTrial] = []

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            self.completed += 1
        elif trial.state == TrialState.FAIL:
            self.failed.append(trial)
            if not self.completed and len(self.failed) >= FAILURES_BEFORE_STOP:
                study.stop()
