"""A whole study config: reading, validating and the parsed form."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.config._components import (
    ComponentConfig,
    build_pruner,
    build_sampler,
    parse_component,
)
from tunelab.config._cv import CVConfig, parse_cv
from tunelab.config._data import DataConfig, check_columns, parse_data
from tunelab.config._fields import ConfigError, Fields, jsonable, one_line, unknown_value
from tunelab.config._model import ModelConfig, parse_model
from tunelab.config._yaml import parse_yaml
from tunelab.space import SearchSpace, space_from_dict

DEFAULT_STORAGE = "sqlite:///tunelab.db"


_TOP_KEYS = (
    *("data", "model", "space", "cv", "metric", "metrics", "direction", "sampler", "pruner"),
    *("n_trials", "timeout", "n_jobs", "storage", "study_name", "seed"),
)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config; run it with :func:`run_study_config`.

    Attributes:
        data: Where the rows come from.
        model: The estimator and its fixed parameters.
        space: The searched hyperparameters.
        space_spec: ``space`` in its dict form, as written in the file.
        cv: The folds.
        metrics: Metric names; the first is the objective.
        direction: ``maximize``.
        sampler: Sampler kind and options.
        pruner: Pruner kind and options.
        n_trials: Trials to run per call (None: until ``timeout``).
        timeout: Seconds after which no new trial starts.
        n_jobs: Trials run at once (-1: one per CPU).
        storage: Database URL of the study.
        study_name: Name of the study in the storage.
        seed: Seed of the sampler, the folds and the model (None: unseeded sampler).
        file: The config file it was read from, for error messages.
    """

    data: DataConfig
    model: ModelConfig
    space: SearchSpace
    space_spec: dict[str, Any]
    cv: CVConfig
    metrics: tuple[str, ...]
    direction: str
    sampler: ComponentConfig
    pruner: ComponentConfig
    n_trials: int | None
    timeout: float | None
    n_jobs: int
    storage: str
    study_name: str
    seed: int | None
    file: str | None = None

    def with_overrides(
        self,
        *,
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int | None = None,
        storage: str | None = None,
    ) -> StudyConfig:
        """A copy with the given settings replaced (None keeps the config's value).

        Raises:
            ConfigError: An override is out of range.
        """
        check = Fields(self.file)
        changes: dict[str, Any] = {}
        if n_trials is not None:
            changes["n_trials"] = check.integer(n_trials, "n_trials", minimum=1)
        if timeout is not None:
            changes["timeout"] = check.positive(timeout, "timeout")
        if n_jobs is not None:
            changes["n_jobs"] = _n_jobs(check, n_jobs)
        if storage is not None:
            changes["storage"] = check.string(storage, "storage")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored on the study (without the storage URL: it may hold a password)."""
        return {
            "data": self.data.spec(extra_drop=_group_drop(self.cv)),
            "model": self.model.spec(),
            "space": self.space_spec,
            "cv": self.cv.spec(),
            "metrics": list(self.metrics),
            "direction": self.direction,
            "sampler": self.sampler.spec(),
            "pruner": self.pruner.spec(),
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "n_jobs": self.n_jobs,
            "study_name": self.study_name,
            "seed": self.seed,
        }


def _group_drop(cv: CVConfig) -> list[str]:
    return [cv.group_column] if cv.group_column else []


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config; nothing runs and nothing is stored.

    Args:
        path: The YAML file. Relative data paths in it are relative to its folder.

    Raises:
        ConfigError: The file is missing or not YAML, or a field is wrong; the
            message names the file, the field path and what was expected.
    """
    import yaml

    file = Path(path)
    try:
        raw = parse_yaml(file.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = f"cannot read the config file: {exc.strerror or exc}"
        raise ConfigError(reason, file=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {one_line(exc)}", file=str(path)) from None
    return study_config_from_dict(
        raw, file=str(path), base_dir=file.resolve().parent, default_name=file.stem
    )


def study_config_from_dict(
    raw: Any,
    *,
    file: str | None = None,
    base_dir: str | Path = ".",
    default_name: str = "study",
) -> StudyConfig:
    """Validate the parsed content of a study config (the Python form of :func:`load_study_config`).

    Args:
        raw: The mapping a YAML config file holds.
        file: How to name the source in error messages.
        base_dir: Folder that relative data paths start from.
        default_name: The study name when the config gives none.

    Raises:
        ConfigError: A field is wrong; the message names the field path and what was expected.
    """
    check = Fields(file)
    top = check.mapping(raw, "", allowed=_TOP_KEYS, required=("data", "model", "space"))
    seed = None if top.get("seed") is None else check.integer(top["seed"], "seed")
    data = parse_data(check, top["data"], "data", Path(base_dir))
    space_spec = top["space"]
    space = _parse_space(check, space_spec)
    model = parse_model(check, top["model"], space, seed)
    cv = parse_cv(check, top.get("cv", 5), seed)
    check_columns(check, data, cv)
    sampler = parse_component(check, top.get("sampler"), "sampler")
    n_trials, timeout = _parse_budget(check, top, sampler.kind)
    config = StudyConfig(
        data=data,
        model=model,
        space=space,
        space_spec=jsonable(check, space_spec, "space"),
        cv=cv,
        metrics=_parse_metrics(check, top),
        direction=_parse_direction(check, top.get("direction", "maximize")),
        sampler=sampler,
        pruner=parse_component(check, top.get("pruner", "none"), "pruner"),
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=_n_jobs(check, top.get("n_jobs", 1)),
        storage=check.string(top.get("storage", DEFAULT_STORAGE), "storage"),
        study_name=check.string(top.get("study_name", default_name), "study_name"),
        seed=seed,
        file=file,
    )
    # Building them once checks every option against the real constructors.
    build_sampler(config)
    build_pruner(config)
    return config


def _parse_space(check: Fields, value: Any) -> SearchSpace:
    try:
        return space_from_dict(value, where="space")
    except ValueError as exc:
        path, _, reason = str(exc).partition(": ")
        raise check.fail(path, reason) from None


def _parse_metrics(check: Fields, top: Mapping[str, Any]) -> tuple[str, ...]:
    from tunelab.evaluation.metrics import get_metric

    if ("metric" in top) == ("metrics" in top):
        raise check.fail(
            "metric", "give exactly one of 'metric' or 'metrics' (the first is optimised)"
        )
    field = "metric" if "metric" in top else "metrics"
    names = check.strings(top[field], field)
    if not names or len(set(names)) != len(names):
        raise check.fail(field, f"expected distinct metric names, got {list(names)}")
    for i, name in enumerate(names):
        try:
            get_metric(name)
        except ValueError:
            where = field if field == "metric" else f"metrics[{i}]"
            raise check.fail(where, unknown_value("metric", name, _metric_names())) from None
    return names


def _metric_names() -> list[str]:
    from sklearn.metrics import get_scorer_names

    from tunelab.evaluation.metrics import metric_names

    return sorted(set(metric_names()) | set(get_scorer_names()))


def _parse_direction(check: Fields, value: Any) -> str:
    direction = check.choice(value, "direction", ("maximize", "minimize"))
    if direction == "minimize":
        raise check.fail(
            "direction",
            "every metric is higher-is-better (losses are negated, e.g. neg_log_loss), "
            "so the direction is maximize; omit it",
        )
    return direction


def _parse_budget(
    check: Fields, top: Mapping[str, Any], sampler_kind: str
) -> tuple[int | None, float | None]:
    n_trials = top.get("n_trials")
    timeout = top.get("timeout")
    if n_trials is None and timeout is None and sampler_kind != "grid":
        raise check.fail("n_trials", "give n_trials or timeout (or both) to bound the run")
    return (
        None if n_trials is None else check.integer(n_trials, "n_trials", minimum=1),
        None if timeout is None else check.positive(timeout, "timeout"),
    )


def _n_jobs(check: Fields, value: Any) -> int:
    n_jobs = check.integer(value, "n_jobs", minimum=-1)
    if n_jobs == 0:
        raise check.fail("n_jobs", "expected -1 (one per CPU) or an integer >= 1, got 0")
    return n_jobs
