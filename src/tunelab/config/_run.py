"""Running a config study: its objective, opening or resuming its study."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tunelab.config._components import build_pruner, build_sampler
from tunelab.config._fields import ConfigError, one_line
from tunelab.config._metrics import check_metrics_fit_target
from tunelab.config._study import StudyConfig
from tunelab.exceptions import StorageError
from tunelab.space import SearchSpace
from tunelab.study import Study, create_study
from tunelab.trial import BaseTrial, FrozenTrial, TrialState

_OBJECTIVE_KEYS = ("data", "model", "space", "cv", "metrics")

# A run whose first trials all fail stops: its config cannot work as written.
FAILURES_BEFORE_STOP = 3


class ConfigObjective:
    """The objective of a config study: the cross-validated first metric of one trial's model.

    The other metrics' means are stored as the trial's user attributes. A module-level
    class holding only data, so worker processes can unpickle it.

    Args:
        estimator: The unfitted estimator with its fixed parameters.
        space: The searched hyperparameters.
        X: Features.
        y: Targets.
        splits: The (train, test) index pairs every trial uses.
        metrics: Metric names; the first is returned.
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
    ) -> None:
        self.estimator = estimator
        self.space = space
        self.X, self.y = X, y
        self.splits = list(splits)
        self.metrics = list(metrics)

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
        try:
            check_metrics_fit_target("metrics", config.metrics, estimator, y)
        except ConfigError as exc:
            raise ConfigError(exc.reason, file=config.file, field=exc.field) from None
        try:
            splits = config.cv.splits(estimator, X, y, groups)
        except ConfigError as exc:
            raise ConfigError(exc.reason, file=config.file, field="cv") from None
        return cls(
            estimator=estimator, space=config.space, X=X, y=y, splits=splits, metrics=config.metrics
        )

    def __call__(self, trial: BaseTrial) -> float:
        """Mean score of the first metric over the folds, for the trial's hyperparameters."""
        from sklearn.base import clone

        from tunelab.evaluation import evaluate

        model = clone(self.estimator).set_params(**self.space.suggest(trial))
        result = evaluate(model, self.X, self.y, cv=self.splits, metrics=self.metrics)
        for name in self.metrics[1:]:
            trial.set_user_attr(name, result.mean(name))
        return result.mean(self.metrics[0])


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
            direction=config.direction,
            load_if_exists=True,
        )
    except StorageError as exc:
        raise ConfigError(one_line(exc), file=config.file, field="storage") from None
    current = json.loads(json.dumps(config.to_dict()))
    _check_resumable(study, current, config.file)
    attrs = {
        "model": current["model"],
        "data": current["data"],
        "metric": config.metrics[0],
        "config": current,
    }
    stored = study.user_attrs
    for key, value in attrs.items():
        if stored.get(key) != value:
            study.set_user_attr(key, value)
    if study.metric_names != [config.metrics[0]]:
        study.set_metric_names([config.metrics[0]])
    return study


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
    changed = [key for key in _OBJECTIVE_KEYS if stored.get(key) != current[key]]
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
