"""A whole study config: reading, validating and the parsed form."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.config._components import (
    ComponentConfig,
    build_pruner,
    build_sampler,
    check_components_fit,
    parse_component,
)
from tunelab.config._cv import CVConfig, parse_cv
from tunelab.config._data import DataConfig, check_columns, parse_data
from tunelab.config._deploy import DEPLOY_PARAMS, DeployConfig, parse_deploy
from tunelab.config._fields import ConfigError, Fields, check_values, jsonable, one_line
from tunelab.config._metrics import (
    check_metrics_fit_model,
    metric_names,
    metrics_field,
    parse_metrics,
)
from tunelab.config._model import ModelConfig, parse_model
from tunelab.config._objectives import (
    DEPLOYMENT_METRICS,
    Constraint,
    Objective,
    parse_constraints,
    parse_objectives,
)
from tunelab.config._yaml import parse_yaml
from tunelab.space import SearchSpace
from tunelab.study import check_study_name

DEFAULT_STORAGE = "sqlite:///tunelab.db"

# Limits that catch typos (an extra zero or five) before they start a run that cannot end.
MAX_TRIALS = 10**7
MAX_TIMEOUT = 10**8  # seconds, about three years
JOBS_PER_CPU = 4


_TOP_KEYS = (
    *("data", "model", "space", "cv", "metric", "metrics", "direction", "sampler", "pruner"),
    *("n_trials", "timeout", "n_jobs", "storage", "study_name", "seed"),
    *("objectives", "constraints", "deploy"),
)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config; run it with :func:`run_study_config`.

    Attributes:
        data: Where the rows come from.
        model: The estimator and its fixed parameters (or the model families).
        space: Every trial parameter: the model's hyperparameters (with model
            families, ``model`` and ``<family>.<parameter>``), then ``precision``
            and ``features`` where the deploy block searches them.
        space_spec: ``space`` in its dict form, as written in the file (None with
            model families: each declares its own).
        cv: The folds.
        metrics: Quality metric names; without ``objectives`` the first is the objective.
        direction: ``maximize`` (the first quality metric's direction).
        sampler: Sampler kind and options.
        pruner: Pruner kind and options.
        n_trials: Trials to run per call (None: until ``timeout``).
        timeout: Seconds after which no new trial starts.
        n_jobs: Trials run at once (-1: one per CPU).
        storage: Database URL of the study.
        study_name: Name of the study in the storage.
        seed: Seed of the sampler, the folds and the model (None: unseeded sampler).
        file: The config file it was read from, for error messages.
        objectives: With an ``objectives`` field: each objective's name and
            direction, in order; empty for a ``metric``/``metrics`` config.
        constraints: Bounds a feasible trial meets.
        deploy: How each trial's model is measured as served, when a deployment
            metric is an objective or constrained, or a ``deploy`` block is given.
    """

    data: DataConfig
    model: ModelConfig
    space: SearchSpace
    space_spec: dict[str, Any] | None
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
    objectives: tuple[Objective, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    deploy: DeployConfig | None = None

    @property
    def directions(self) -> list[str]:
        """One direction per objective (a ``metric`` config has one)."""
        return [o.direction for o in self.objectives] or [self.direction]

    @property
    def objective_names(self) -> list[str]:
        """The objectives' names, as the study's metric names."""
        return [o.name for o in self.objectives] or [self.metrics[0]]

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
            changes["n_trials"] = _n_trials(check, n_trials)
        if timeout is not None:
            changes["timeout"] = _timeout(check, timeout)
        if n_jobs is not None:
            changes["n_jobs"] = _n_jobs(check, n_jobs)
        if storage is not None:
            changes["storage"] = _storage(check, storage)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored on the study (without the storage URL: it may hold a password).

        ``objectives``, ``constraints`` and ``deploy`` appear only in a config with
        ``objectives``.
        """
        extra: dict[str, Any] = {}
        if self.objectives:
            extra = {
                "objectives": [o.spec() for o in self.objectives],
                "constraints": [c.text for c in self.constraints],
                "deploy": None if self.deploy is None else self.deploy.spec(),
            }
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
            **extra,
        }


def check_run_options(
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    n_jobs: int | None = None,
    storage: str | None = None,
) -> None:
    """Check a run's budget, parallelism and storage as a config's fields are checked.

    For commands that run a study without a config file (``tunelab demo``); None skips
    a check.

    Raises:
        ConfigError: Naming the option: more than 10,000,000 trials, more than 4 jobs
            per CPU, a timeout over 100,000,000 s, or an in-memory or malformed storage URL.
    """
    check = Fields(None)
    if n_trials is not None:
        _n_trials(check, n_trials)
    if timeout is not None:
        _timeout(check, timeout)
    if n_jobs is not None:
        _n_jobs(check, n_jobs)
    if storage is not None:
        _storage(check, storage)


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
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte {exc.start}): save the config as UTF-8"
        raise ConfigError(reason, file=str(path)) from None
    except yaml.YAMLError as exc:
        if hasattr(exc, "field"):
            raise ConfigError(exc.reason, file=str(path), field=exc.field) from None
        raise ConfigError(f"not valid YAML: {one_line(exc)}", file=str(path)) from None
    except ValueError as exc:
        # A scalar YAML cannot represent in Python, e.g. an integer of 5,000 digits.
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
    check_values(check, raw)
    top = check.mapping(raw, "", allowed=_TOP_KEYS, required=("data", "model"))
    seed = None if top.get("seed") is None else _seed(check, top["seed"])
    data = parse_data(check, top["data"], "data", Path(base_dir))
    model, space = parse_model(check, top["model"], top.get("space"), seed)
    objectives, constraints, deploy = _parse_deployment(check, top)
    if deploy is not None:
        space = _with_deploy_params(check, space, deploy)
        _check_features_convert(check, deploy, model)
    if objectives:
        metrics = tuple(o.name for o in objectives if not o.deployment)
        checked: list[tuple[str, tuple[str, ...]]] = [
            (f"objectives[{i}]", (o.name,)) for i, o in enumerate(objectives) if not o.deployment
        ]
    else:
        metrics = parse_metrics(check, top)
        checked = [(metrics_field(top), metrics)]
    for estimator in model.estimators().values():
        for where, names in checked:
            check_metrics_fit_model(check, where, names, estimator)
    cv = parse_cv(check, top.get("cv", 5), seed)
    check_columns(check, data, cv)
    sampler_value = top.get("sampler")
    if sampler_value is None and constraints:
        # The default AutoSampler takes no constraints_func (its TPE and GP are built
        # without one), so it would search as if unconstrained. TPE honours constraints
        # with several objectives, handles a choice of model families (conditional
        # parameters) and is useful from a few dozen trials, where NSGA-II's
        # generations of 50 have barely started.
        sampler_value = "tpe"
    sampler = parse_component(check, sampler_value, "sampler")
    n_trials, timeout = _parse_budget(check, top, sampler.kind)
    config = StudyConfig(
        data=data,
        model=model,
        space=space,
        space_spec=None if model.families else jsonable(check, top["space"], "space"),
        cv=cv,
        metrics=metrics,
        direction=_parse_direction(check, top.get("direction", "maximize")),
        sampler=sampler,
        pruner=parse_component(check, top.get("pruner", "none"), "pruner"),
        n_trials=n_trials,
        timeout=timeout,
        n_jobs=_n_jobs(check, top.get("n_jobs", 1)),
        storage=_storage(check, top.get("storage", DEFAULT_STORAGE)),
        study_name=_study_name(check, top.get("study_name", default_name), "study_name" in top),
        seed=seed,
        file=file,
        objectives=tuple(objectives),
        constraints=tuple(constraints),
        deploy=deploy,
    )
    check_components_fit(check, config)
    # Building them once checks every option against the real constructors.
    build_sampler(config)
    build_pruner(config)
    return config


def _parse_deployment(
    check: Fields, top: Mapping[str, Any]
) -> tuple[list[Objective], list[Constraint], DeployConfig | None]:
    """``objectives``, ``constraints`` and ``deploy``; the last two need the first."""
    if "objectives" not in top:
        for key in ("constraints", "deploy"):
            if key in top:
                raise check.fail(
                    key,
                    "needs 'objectives' (e.g. objectives: [f1_macro, latency_p95_ms]) in "
                    "place of 'metric'/'metrics'",
                )
        return [], [], None
    for key in ("metric", "metrics", "direction"):
        if key in top:
            raise check.fail(
                key,
                f"give either 'objectives' or '{key}', not both: 'objectives' names every "
                "metric optimised, with its direction",
            )
    objectives = parse_objectives(check, top["objectives"], metric_names())
    names = [*(o.name for o in objectives if not o.deployment), *DEPLOYMENT_METRICS]
    constraints = parse_constraints(check, top.get("constraints") or [], names)
    measured = any(o.deployment for o in objectives) or any(
        c.name in DEPLOYMENT_METRICS for c in constraints
    )
    deploy = parse_deploy(check, top.get("deploy")) if measured or "deploy" in top else None
    return objectives, constraints, deploy


def _check_features_convert(check: Fields, deploy: DeployConfig, model: ModelConfig) -> None:
    from tunelab.deploy._torch import is_torch_model

    if deploy.features is None:
        return
    for name, estimator in model.estimators().items():
        if is_torch_model(estimator):
            raise check.fail(
                "deploy.features",
                f"{name} is a tunelab.torch model, exported to ONNX by torch, and the "
                "feature selection before it would be converted by skl2onnx: the two cannot "
                "make one ONNX model; remove deploy.features",
            )


def _with_deploy_params(check: Fields, space: SearchSpace, deploy: DeployConfig) -> SearchSpace:
    for name in DEPLOY_PARAMS:
        if name in space.distributions:
            raise check.fail(
                f"space.{name}",
                f"{name!r} is the deploy block's trial parameter; with a deploy block, tune "
                f"this model parameter through model.choice (its name gets a family prefix)",
            )
    added = deploy.searched()
    return SearchSpace({**space.distributions, **added}, dict(space.conditions))


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
        None if n_trials is None else _n_trials(check, n_trials),
        None if timeout is None else _timeout(check, timeout),
    )


def _n_trials(check: Fields, value: Any) -> int:
    return check.integer(value, "n_trials", minimum=1, maximum=MAX_TRIALS)


def _timeout(check: Fields, value: Any) -> float:
    timeout = check.positive(value, "timeout")
    if timeout > MAX_TIMEOUT:
        raise check.fail("timeout", f"must be <= {MAX_TIMEOUT:,} seconds, got {value!r}")
    return timeout


def _seed(check: Fields, value: Any) -> int:
    # Every seeded component (numpy, scikit-learn) takes 32-bit unsigned seeds.
    return check.integer(value, "seed", minimum=0, maximum=2**32 - 1)


def _n_jobs(check: Fields, value: Any) -> int:
    cpus = os.cpu_count() or 1
    limit = JOBS_PER_CPU * cpus
    n_jobs = check.integer(value, "n_jobs", minimum=-1)
    if n_jobs == 0:
        raise check.fail("n_jobs", "expected -1 (one per CPU) or an integer >= 1, got 0")
    if n_jobs > limit:
        raise check.fail(
            "n_jobs",
            f"{n_jobs:,} trials at once is more than {JOBS_PER_CPU} per CPU ({cpus} CPUs): "
            f"give at most {limit}, or -1 for one per CPU",
        )
    return n_jobs


def _storage(check: Fields, value: Any) -> str:
    import sqlalchemy as sa

    url = check.string(value, "storage")
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise check.fail(
            "storage", f"not a database URL: {url!r} (e.g. sqlite:///tunelab.db)"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise check.fail(
            "storage",
            f"{url!r} is an in-memory database: the study would be lost when the run ends; "
            "name a file, e.g. sqlite:///tunelab.db",
        )
    return url


def _study_name(check: Fields, value: Any, given: bool) -> str:
    name = check.string(value, "study_name")
    try:
        check_study_name(name)
    except ValueError as exc:
        hint = "" if given else " (the default is the config file's name: set study_name)"
        raise check.fail("study_name", f"{str(exc).removeprefix('study_name ')}{hint}") from None
    return name
