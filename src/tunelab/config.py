"""Study config files: a whole tuning study declared in YAML and validated before anything runs.

Example (``tunelab tune churn.yaml``)::

    data: {path: churn.csv, target: churned, drop: [signup_date], id: customer_id}
    model:
      class: sklearn.ensemble.RandomForestClassifier
      params: {n_jobs: 1}
    space:
      n_estimators: {int: [10, 300], log: true}
      max_depth: {int: [2, 32]}
    cv: {kind: stratified, n_splits: 5}
    metrics: [f1, roc_auc]
    sampler: {kind: qmc}
    pruner: median
    n_trials: 50
    seed: 0

Fields (only ``data``, ``model``, ``space``, ``metric``/``metrics`` and a budget are required):

- ``data``: ``sklearn:<name>`` for a data set shipped with scikit-learn
  (breast_cancer, diabetes, digits, iris, wine), ``<file.csv|file.parquet>#<target>``,
  or a mapping with ``sklearn`` or ``path`` (relative to the config file), ``target``,
  ``drop`` (columns that are not features) and ``id`` (an identifier column).
- ``model``: the import path of a scikit-learn-style estimator, or a mapping with
  ``class`` and ``params`` (fixed hyperparameters).
- ``space``: the dict form of :func:`tunelab.space.space_from_dict`.
- ``cv``: folds as an int (stratified for classifiers, shuffled), or a mapping with
  ``kind`` (auto, stratified, kfold, group, repeated), ``n_splits``, ``n_repeats``,
  ``shuffle``, ``random_state`` and ``group_column``.
- ``metric`` or ``metrics``: scikit-learn scorer names; the first is the objective.
- ``direction``: ``maximize`` (the default; every metric is higher-is-better).
- ``sampler`` / ``pruner``: a kind, or a mapping with ``kind`` and constructor options.
- ``n_trials``, ``timeout`` (seconds), ``n_jobs``, ``storage``, ``study_name``
  (default: the file's stem) and ``seed`` (seeds the sampler, the folds and the
  model's ``random_state`` unless fixed).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab import pruners, samplers
from tunelab.exceptions import TunelabError
from tunelab.space import SearchSpace, grid_values, space_from_dict
from tunelab.study import Study, create_study
from tunelab.trial import BaseTrial

DEFAULT_STORAGE = "sqlite:///tunelab.db"
# Data sets that ship inside scikit-learn; the fetch_* ones would download.
SKLEARN_DATASETS = ("breast_cancer", "diabetes", "digits", "iris", "wine")
CV_KINDS = ("auto", "stratified", "kfold", "group", "repeated")
# Config name -> class name; a kind is offered only while tunelab.samplers exports its class.
_SAMPLERS = {
    "random": "RandomSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "auto": "AutoSampler",
}
_PRUNERS = {
    "none": "NopPruner",
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
_DEFAULT_SAMPLERS = ("auto", "tpe", "random")
# What must match for a rerun to resume a study: anything that changes a trial's score.
_OBJECTIVE_KEYS = ("data", "model", "space", "cv", "metrics")
_TOP_KEYS = (
    *("data", "model", "space", "cv", "metric", "metrics", "direction", "sampler", "pruner"),
    *("n_trials", "timeout", "n_jobs", "storage", "study_name", "seed"),
)


class ConfigError(TunelabError, ValueError):
    """A study config (or a data or model spec) is invalid.

    Attributes:
        file: The config file, when there is one.
        field: Dotted path of the offending field, e.g. ``space.max_depth.int``.
        reason: What was wrong and what was expected.
    """

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file, self.field, self.reason = file, field, reason
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


# -- the parsed config --------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """Where the rows come from: a scikit-learn data set or a CSV/Parquet file.

    Attributes:
        sklearn: Name of a data set shipped with scikit-learn (see ``SKLEARN_DATASETS``).
        path: A ``.csv`` or ``.parquet`` file (absolute once parsed from a config file).
        target: The column to predict (files only).
        drop: Columns that are not features.
        id: An identifier column, kept out of the features.
    """

    sklearn: str | None = None
    path: Path | None = None
    target: str | None = None
    drop: tuple[str, ...] = ()
    id: str | None = None

    def columns(self) -> list[str]:
        """The column names: the header of the file, or the features of the data set."""
        if self.sklearn is not None:
            return [str(c) for c in _load_sklearn(self.sklearn)[0].columns]
        assert self.path is not None
        if self.path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        import pandas

        return [str(c) for c in pandas.read_csv(self.path, nrows=0).columns]

    def load(self, *, group_column: str | None = None) -> tuple[Any, Any, Any]:
        """``(X, y, groups)``: features without the target, drop, id and group columns."""
        if self.sklearn is not None:
            X, y = _load_sklearn(self.sklearn)
        else:
            frame = _read_file(self.path)
            X, y = frame.drop(columns=[self.target]), frame[self.target]
        groups = None if group_column is None else X[group_column].to_numpy()
        unused = [*self.drop, self.id, group_column]
        return X.drop(columns=[c for c in dict.fromkeys(unused) if c is not None]), y, groups

    def spec(self, *, extra_drop: Sequence[str] = ()) -> str | dict[str, Any]:
        """The JSON form: ``sklearn:<name>``, ``<path>#<target>``, or a mapping with drops."""
        drop = [*self.drop, *extra_drop]
        if self.sklearn is not None and not drop and self.id is None:
            return f"sklearn:{self.sklearn}"
        if self.sklearn is None and not drop and self.id is None:
            return f"{self.path}#{self.target}"
        spec: dict[str, Any] = (
            {"sklearn": self.sklearn}
            if self.sklearn
            else {"path": str(self.path), "target": self.target}
        )
        spec["drop"] = drop
        if self.id is not None:
            spec["id"] = self.id
        return spec


@dataclass(frozen=True)
class ModelConfig:
    """The estimator class (an import path) and its fixed hyperparameters."""

    class_path: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A new, unfitted estimator with the fixed parameters."""
        return _make_estimator(_import_class(self.class_path, "model.class"), self.params)

    def spec(self) -> dict[str, Any]:
        """The JSON form ``{"class": path, "params": {...}}``."""
        return {"class": self.class_path, "params": dict(self.params)}


@dataclass(frozen=True)
class CVConfig:
    """How rows are split into folds.

    Attributes:
        kind: ``auto`` (stratified for classifiers, else k-fold), ``stratified``,
            ``kfold``, ``group`` (no group in two folds) or ``repeated``.
        n_splits: Folds per repetition.
        n_repeats: Repetitions, for ``repeated``.
        shuffle: Shuffle before splitting (always for ``repeated``, never for ``group``).
        random_state: Seed of the shuffle.
        group_column: Column of group ids, for ``group``; it is not a feature.
    """

    kind: str = "auto"
    n_splits: int = 5
    n_repeats: int = 2
    shuffle: bool = True
    random_state: int | None = 0
    group_column: str | None = None

    def splits(self, estimator: Any, X: Any, y: Any, groups: Any = None) -> list[Any]:
        """The (train, test) index pairs, materialised once so every trial sees the same folds.

        Raises:
            ConfigError: The splitter rejects the data (e.g. stratified folds of a
                continuous target, or more folds than members of a class).
        """
        splitter = self._splitter(estimator)
        try:
            return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, groups)]
        except ValueError as exc:
            raise ConfigError(str(exc), field="cv") from None

    def _splitter(self, estimator: Any) -> Any:
        from sklearn import model_selection as ms
        from sklearn.base import is_classifier

        classifier = is_classifier(estimator)
        if self.kind == "group":
            return ms.GroupKFold(n_splits=self.n_splits)
        if self.kind == "repeated":
            repeated = ms.RepeatedStratifiedKFold if classifier else ms.RepeatedKFold
            return repeated(
                n_splits=self.n_splits, n_repeats=self.n_repeats, random_state=self.random_state
            )
        stratified = self.kind == "stratified" or (self.kind == "auto" and classifier)
        kfold = ms.StratifiedKFold if stratified else ms.KFold
        seed = self.random_state if self.shuffle else None
        return kfold(n_splits=self.n_splits, shuffle=self.shuffle, random_state=seed)

    def spec(self) -> dict[str, Any]:
        """The JSON form of every setting."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ComponentConfig:
    """A sampler or pruner: its kind and its constructor options."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """The JSON form ``{"kind": ..., **options}``."""
        return {"kind": self.kind, **self.options}


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
        check = _Fields(self.file)
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


# -- reading and validating ---------------------------------------------------------------------


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
        raise ConfigError(f"not valid YAML: {_one_line(exc)}", file=str(path)) from None
    return study_config_from_dict(
        raw, file=str(path), base_dir=file.resolve().parent, default_name=file.stem
    )


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, reading exponent floats such as ``1e-6`` as numbers.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-6``), so ``1e-6`` would
    silently become the string "1e-6"; YAML 1.2 and every user expect a number.
    """
    import yaml

    return yaml.load(text, Loader=_float_loader())


@functools.cache
def _float_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader


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
    check = _Fields(file)
    top = check.mapping(raw, "", allowed=_TOP_KEYS, required=("data", "model", "space"))
    seed = None if top.get("seed") is None else check.integer(top["seed"], "seed")
    data = _parse_data(check, top["data"], "data", Path(base_dir))
    space_spec = top["space"]
    space = _parse_space(check, space_spec)
    model = _parse_model(check, top["model"], space, seed)
    cv = _parse_cv(check, top.get("cv", 5), seed)
    _check_columns(check, data, cv)
    sampler = _parse_component(check, top.get("sampler"), "sampler")
    n_trials, timeout = _parse_budget(check, top, sampler.kind)
    config = StudyConfig(
        data=data,
        model=model,
        space=space,
        space_spec=_jsonable(check, space_spec, "space"),
        cv=cv,
        metrics=_parse_metrics(check, top),
        direction=_parse_direction(check, top.get("direction", "maximize")),
        sampler=sampler,
        pruner=_parse_component(check, top.get("pruner", "none"), "pruner"),
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


class _Fields:
    """Typed reads of config values; every failure is a ConfigError naming file and field."""

    def __init__(self, file: str | None) -> None:
        self.file = file

    def fail(self, field: str, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, field=field or None)

    def mapping(
        self,
        value: Any,
        field: str,
        *,
        allowed: Sequence[str] | None,
        required: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A mapping whose keys are all in ``allowed`` (None: any string keys)."""
        if not isinstance(value, Mapping):
            keys = "string keys" if allowed is None else f"keys {list(allowed)}"
            raise self.fail(field, f"expected a mapping with {keys}, got {value!r}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(field, f"expected string keys, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(_join(field, key), _unknown("key", key, allowed))
        for key in required:
            if key not in value:
                raise self.fail(_join(field, key), "required, but missing")
        return dict(value)

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(field, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: Any, field: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
            raise self.fail(field, f"expected a string or a list of strings, got {value!r}")
        return tuple(items)

    def integer(self, value: Any, field: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(field, f"must be >= {minimum}, got {value}")
        return value

    def positive(self, value: Any, field: str) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not np.isfinite(value) or value <= 0:
            raise self.fail(field, f"expected a positive number, got {value!r}")
        return float(value)

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {value!r}")
        return value

    def choice(self, value: Any, field: str, choices: Sequence[str]) -> str:
        if value not in choices:
            raise self.fail(field, _unknown("value", value, choices))
        return str(value)


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _unknown(what: str, value: Any, known: Sequence[str]) -> str:
    hint = _did_you_mean(value, known)
    listed = ", ".join(map(str, known)) if len(known) <= 20 else f"{len(known)} names"
    return f"unknown {what} {value!r}{hint} (expected one of: {listed})"


def _did_you_mean(value: Any, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _jsonable(check: _Fields, value: Any, field: str) -> Any:
    """``value`` as JSON would store it (the study keeps the config in its user attributes)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise check.fail(
            field, f"must hold only strings, numbers, booleans, null, lists and mappings: {value!r}"
        ) from None


# -- data ---------------------------------------------------------------------------------------


def data_config(
    source: str | Mapping[str, Any], *, target: str | None = None, base_dir: str | Path = "."
) -> DataConfig:
    """A validated :class:`DataConfig` from a data spec, as the CLI's ``--data`` takes it.

    Args:
        source: ``sklearn:<name>``, ``<file>#<target>``, a file path (with ``target``),
            or the mapping form of a config file's ``data`` field.
        target: The target column of a file.
        base_dir: Folder that a relative file path starts from.

    Raises:
        ConfigError: An unknown data set, a missing file or column, or a target
            given twice or for a scikit-learn data set.
    """
    if target is not None:
        if isinstance(source, str) and source.startswith("sklearn:"):
            source = {"sklearn": source.removeprefix("sklearn:"), "target": target}
        elif isinstance(source, str):
            source = {"path": source, "target": target}
    check = _Fields(None)
    data = _parse_data(check, source, "data", Path(base_dir))
    _check_columns(check, data, CVConfig())
    return data


def load_data(spec: str | Mapping[str, Any]) -> tuple[Any, Any]:
    """``(X, y)`` for a data spec such as a study's "data" user attribute.

    Args:
        spec: ``sklearn:<name>``, ``<file>#<target>`` or the mapping form.

    Raises:
        ConfigError: The spec is malformed or names a missing data set, file or column.
    """
    X, y, _ = data_config(spec).load()
    return X, y


def _parse_data(check: _Fields, value: Any, field: str, base_dir: Path) -> DataConfig:
    if isinstance(value, str):
        value = _data_shorthand(check, value, field)
    keys = ("sklearn", "path", "target", "drop", "id")
    spec = check.mapping(value, field, allowed=keys)
    if ("sklearn" in spec) == ("path" in spec):
        raise check.fail(field, "give exactly one of 'sklearn' (a built-in data set) or 'path'")
    drop = check.strings(spec.get("drop", []), _join(field, "drop"))
    row_id = None if spec.get("id") is None else check.string(spec["id"], _join(field, "id"))
    if "sklearn" in spec:
        if "target" in spec:
            raise check.fail(
                _join(field, "target"), "a scikit-learn data set brings its own target"
            )
        name = check.choice(spec["sklearn"], _join(field, "sklearn"), SKLEARN_DATASETS)
        return DataConfig(sklearn=name, drop=drop, id=row_id)
    path = _data_path(check, spec["path"], _join(field, "path"), base_dir)
    if "target" not in spec:
        raise check.fail(_join(field, "target"), "required with a file: the column to predict")
    target = check.string(spec["target"], _join(field, "target"))
    return DataConfig(path=path, target=target, drop=drop, id=row_id)


def _data_shorthand(check: _Fields, value: str, field: str) -> dict[str, Any]:
    if value.startswith("sklearn:"):
        return {"sklearn": value.removeprefix("sklearn:")}
    path, _, target = value.rpartition("#")
    if not path or not target:
        raise check.fail(
            field,
            f"expected 'sklearn:<name>', '<file.csv|file.parquet>#<target column>' or a "
            f"mapping with path and target, got {value!r}",
        )
    return {"path": path, "target": target}


def _data_path(check: _Fields, value: Any, field: str, base_dir: Path) -> Path:
    path = base_dir / check.string(value, field)
    if path.suffix not in (".csv", ".parquet"):
        raise check.fail(field, f"expected a .csv or .parquet file, got {value!r}")
    if not path.is_file():
        raise check.fail(field, f"file not found: {path}")
    return path.resolve()


def _check_columns(check: _Fields, data: DataConfig, cv: CVConfig) -> None:
    """Every named column exists; files are checked by their header only."""
    try:
        columns = data.columns()
    except (OSError, ValueError, ImportError) as exc:
        raise check.fail("data.path", f"cannot read {data.path}: {_one_line(exc)}") from None
    where = data.path.name if data.path else f"sklearn:{data.sklearn}"
    named = [
        ("data.target", data.target),
        ("data.id", data.id),
        ("cv.group_column", cv.group_column),
    ]
    named += [(f"data.drop[{i}]", column) for i, column in enumerate(data.drop)]
    for field_path, column in named:
        if column is not None and column not in columns:
            raise check.fail(
                field_path, f"{where} has no column {column!r}; " + _columns(column, columns)
            )


def _columns(column: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(column, columns, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
    return f"{hint}(columns: {shown})"


def _load_sklearn(name: str) -> tuple[Any, Any]:
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{name}")
    return loader(return_X_y=True, as_frame=True)


def _read_file(path: Path | None) -> Any:
    import pandas

    assert path is not None
    if path.suffix == ".parquet":
        return pandas.read_parquet(path)
    return pandas.read_csv(path)


# -- model, space, cv, metrics ------------------------------------------------------------------


def build_estimator(class_path: str, params: Mapping[str, Any] | None = None) -> Any:
    """A scikit-learn-style estimator from an import path and fixed parameters.

    Args:
        class_path: E.g. ``sklearn.ensemble.RandomForestClassifier``.
        params: Constructor parameters; ``a__b`` names reach nested estimators.

    Raises:
        ConfigError: The class cannot be imported, is not an estimator (fit,
            get_params, set_params), or rejects a parameter (close names suggested).
    """
    check = _Fields(None)
    estimator_class = _import_class(class_path, "model.class")
    fixed = dict(params or {})
    _check_param_names(check, estimator_class, fixed, "model.params")
    return _make_estimator(estimator_class, fixed)


def _parse_model(check: _Fields, value: Any, space: SearchSpace, seed: int | None) -> ModelConfig:
    if isinstance(value, str):
        value = {"class": value}
    spec = check.mapping(value, "model", allowed=("class", "params"), required=("class",))
    class_path = check.string(spec["class"], "model.class")
    params = check.mapping(spec.get("params") or {}, "model.params", allowed=None)
    params = _jsonable(check, params, "model.params")
    try:
        estimator_class = _import_class(class_path, "model.class")
    except ConfigError as exc:
        raise check.fail("model.class", exc.reason) from None
    names = _check_param_names(check, estimator_class, params, "model.params")
    _check_param_names(check, estimator_class, dict.fromkeys(space.distributions), "space")
    for name in space.distributions:
        if name in params:
            raise check.fail(f"space.{name}", "also fixed in model.params; tune it or fix it")
    if seed is not None and "random_state" in names and "random_state" not in space.distributions:
        params.setdefault("random_state", seed)
    try:
        _make_estimator(estimator_class, params)
    except ConfigError as exc:
        raise check.fail("model.params", exc.reason) from None
    return ModelConfig(class_path=class_path, params=params)


def _import_class(class_path: str, field: str) -> Any:
    module_name, _, name = class_path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"expected an import path such as 'module.Class', got {class_path!r}", field=field
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", field=field) from None
    if not hasattr(module, name):
        hint = _did_you_mean(name, [n for n in dir(module) if not n.startswith("_")])
        raise ConfigError(f"module {module_name!r} has no attribute {name!r}{hint}", field=field)
    estimator_class = getattr(module, name)
    needed = ("fit", "get_params", "set_params")
    if not inspect.isclass(estimator_class) or not all(hasattr(estimator_class, m) for m in needed):
        reason = f"{class_path!r} is not a scikit-learn-style estimator class"
        raise ConfigError(f"{reason} (needs {', '.join(needed)})", field=field)
    return estimator_class


def _check_param_names(
    check: _Fields, estimator_class: Any, params: Mapping[str, Any], field: str
) -> set[str]:
    """The constructor's parameter names, after checking ``params`` against them."""
    signature = inspect.signature(estimator_class.__init__)
    kinds = {p.kind for p in signature.parameters.values()}
    names = {n for n in signature.parameters if n != "self"}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return names
    for key in params:
        top = key.split("__", 1)[0]
        if top not in names:
            what = f"{estimator_class.__name__} parameter"
            raise check.fail(_join(field, key), _unknown(what, top, sorted(names)))
    return names


def _make_estimator(estimator_class: Any, params: Mapping[str, Any]) -> Any:
    top = {k: v for k, v in params.items() if "__" not in k}
    nested = {k: v for k, v in params.items() if "__" in k}
    try:
        return estimator_class(**top).set_params(**nested)
    except (TypeError, ValueError) as exc:
        reason = f"cannot create {estimator_class.__name__}: {_one_line(exc)}"
        raise ConfigError(reason, field="model.params") from None


def _parse_space(check: _Fields, value: Any) -> SearchSpace:
    try:
        return space_from_dict(value, where="space")
    except ValueError as exc:
        path, _, reason = str(exc).partition(": ")
        raise check.fail(path, reason) from None


def _parse_cv(check: _Fields, value: Any, seed: int | None) -> CVConfig:
    if not isinstance(value, Mapping):
        value = {"n_splits": check.integer(value, "cv", minimum=2)}
    keys = ("kind", "n_splits", "n_repeats", "shuffle", "random_state", "group_column")
    spec = check.mapping(value, "cv", allowed=keys)
    kind = check.choice(spec.get("kind", "auto"), "cv.kind", CV_KINDS)
    _forbid(check, spec, "n_repeats", kind != "repeated", "only with kind 'repeated'")
    _forbid(check, spec, "group_column", kind != "group", "only with kind 'group'")
    _forbid(check, spec, "shuffle", kind in ("group", "repeated"), f"not with kind {kind!r}")
    shuffle = check.boolean(spec.get("shuffle", kind != "group"), "cv.shuffle")
    _forbid(check, spec, "random_state", not shuffle, "only when the folds are shuffled")
    if kind == "group" and "group_column" not in spec:
        raise check.fail("cv.group_column", "required with kind 'group': the column of group ids")
    state = spec.get("random_state", 0 if seed is None else seed)
    return CVConfig(
        kind=kind,
        n_splits=check.integer(spec.get("n_splits", 5), "cv.n_splits", minimum=2),
        n_repeats=check.integer(spec.get("n_repeats", 2), "cv.n_repeats", minimum=1),
        shuffle=shuffle,
        random_state=check.integer(state, "cv.random_state") if shuffle else None,
        group_column=None
        if spec.get("group_column") is None
        else check.string(spec["group_column"], "cv.group_column"),
    )


def _forbid(check: _Fields, spec: Mapping[str, Any], key: str, when: bool, reason: str) -> None:
    if when and key in spec:
        raise check.fail(f"cv.{key}", reason)


def _parse_metrics(check: _Fields, top: Mapping[str, Any]) -> tuple[str, ...]:
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
            raise check.fail(where, _unknown("metric", name, _metric_names())) from None
    return names


def _metric_names() -> list[str]:
    from sklearn.metrics import get_scorer_names

    from tunelab.evaluation.metrics import metric_names

    return sorted(set(metric_names()) | set(get_scorer_names()))


def _parse_direction(check: _Fields, value: Any) -> str:
    direction = check.choice(value, "direction", ("maximize", "minimize"))
    if direction == "minimize":
        raise check.fail(
            "direction",
            "every metric is higher-is-better (losses are negated, e.g. neg_log_loss), "
            "so the direction is maximize; omit it",
        )
    return direction


def _parse_budget(
    check: _Fields, top: Mapping[str, Any], sampler_kind: str
) -> tuple[int | None, float | None]:
    n_trials = top.get("n_trials")
    timeout = top.get("timeout")
    if n_trials is None and timeout is None and sampler_kind != "grid":
        raise check.fail("n_trials", "give n_trials or timeout (or both) to bound the run")
    return (
        None if n_trials is None else check.integer(n_trials, "n_trials", minimum=1),
        None if timeout is None else check.positive(timeout, "timeout"),
    )


def _n_jobs(check: _Fields, value: Any) -> int:
    n_jobs = check.integer(value, "n_jobs", minimum=-1)
    if n_jobs == 0:
        raise check.fail("n_jobs", "expected -1 (one per CPU) or an integer >= 1, got 0")
    return n_jobs


# -- samplers and pruners -----------------------------------------------------------------------


def _parse_component(check: _Fields, value: Any, field: str) -> ComponentConfig:
    registry, module = (_SAMPLERS, samplers) if field == "sampler" else (_PRUNERS, pruners)
    available = [kind for kind, name in registry.items() if hasattr(module, name)]
    if value is None:
        value = (
            next(k for k in _DEFAULT_SAMPLERS if k in available) if field == "sampler" else "none"
        )
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping) or "kind" not in value:
        raise check.fail(field, f"expected a kind ({', '.join(available)}) or a mapping with kind")
    kind = value["kind"]
    if kind in registry and kind not in available:
        raise check.fail(
            f"{field}.kind",
            f"{kind!r} is not available in this tunelab (no {module.__name__}.{registry[kind]}); "
            f"available: {', '.join(available)}",
        )
    check.choice(kind, f"{field}.kind", available)
    options = check.mapping({k: v for k, v in value.items() if k != "kind"}, field, allowed=None)
    return ComponentConfig(kind=kind, options=_jsonable(check, options, field))


def build_sampler(config: StudyConfig) -> samplers.BaseSampler:
    """A fresh sampler as the config describes it, seeded with ``config.seed`` unless set.

    QMC and grid samplers get their search space from the config's space; a grid takes
    every value of finite parameters and ``n_float`` points (an extra option) of float ranges.

    Raises:
        ConfigError: An option is unknown or rejected by the sampler.
    """
    options = dict(config.sampler.options)
    derived: dict[str, Any] = {}
    if config.sampler.kind == "qmc":
        derived["search_space"] = config.space.distributions
    if config.sampler.kind == "grid":
        derived["search_space"] = _grid(config, options.pop("n_float", None))
    class_name = _SAMPLERS[config.sampler.kind]
    return _construct(samplers, class_name, options, derived, "sampler", config)


def build_pruner(config: StudyConfig) -> pruners.BasePruner:
    """A fresh pruner as the config describes it.

    Raises:
        ConfigError: An option is unknown or rejected by the pruner.
    """
    class_name = _PRUNERS[config.pruner.kind]
    return _construct(pruners, class_name, dict(config.pruner.options), {}, "pruner", config)


def _grid(config: StudyConfig, n_float: Any) -> dict[str, list[Any]]:
    check = _Fields(config.file)
    if n_float is not None:
        n_float = check.integer(n_float, "sampler.n_float", minimum=1)
    grid = {}
    for name, dist in config.space.distributions.items():
        try:
            grid[name] = grid_values(dist, n_float=n_float)
        except ValueError:
            raise check.fail(
                f"space.{name}", "a continuous range has no grid: give it a step, or set n_float"
            ) from None
    return grid


def _construct(
    module: Any,
    class_name: str,
    options: dict[str, Any],
    derived: dict[str, Any],
    field: str,
    config: StudyConfig,
) -> Any:
    """``class_name(**options, **derived)``, checking the user's options by name first."""
    check = _Fields(config.file)
    component_class = getattr(module, class_name)
    parameters = inspect.signature(component_class.__init__).parameters
    accepted = [n for n in parameters if n not in ("self", "search_space")]
    for key in options:
        if key not in accepted:
            raise check.fail(f"{field}.{key}", _unknown(f"{class_name} option", key, accepted))
    if "seed" in accepted and config.seed is not None:
        options.setdefault("seed", config.seed)
    try:
        return component_class(**options, **derived)
    except (TypeError, ValueError) as exc:
        raise check.fail(field, f"{class_name} rejects the options: {_one_line(exc)}") from None


# -- running ------------------------------------------------------------------------------------


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
                f"cannot load: {_one_line(exc)}", file=config.file, field="data"
            ) from None
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


def open_config_study(config: StudyConfig) -> Study:
    """Create the config's study, or load it to resume when it was started from the same objective.

    The study records "model", "data", "metric" and "config" user attributes, so
    ``tunelab register STUDY`` can refit its best trial.

    Raises:
        ConfigError: A study of that name exists but was started from another data
            set, model, space, folds or metrics, or not from a config.
    """
    study = create_study(
        study_name=config.study_name,
        storage=config.storage,
        sampler=build_sampler(config),
        pruner=build_pruner(config),
        direction=config.direction,
        load_if_exists=True,
    )
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
    return study


def _check_resumable(study: Study, current: Mapping[str, Any], file: str | None) -> None:
    stored = study.user_attrs.get("config")
    name = study.study_name
    if stored is None:
        if study.trials:
            raise ConfigError(
                f"study {name!r} already holds {len(study.trials)} trials that were not started "
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
    study.optimize(
        objective,
        n_trials=config.n_trials,
        timeout=config.timeout,
        n_jobs=config.n_jobs,
        show_progress_bar=show_progress_bar,
    )
    return study


__all__ = [
    "SKLEARN_DATASETS",
    "CVConfig",
    "ComponentConfig",
    "ConfigError",
    "ConfigObjective",
    "DataConfig",
    "ModelConfig",
    "StudyConfig",
    "build_estimator",
    "build_pruner",
    "build_sampler",
    "data_config",
    "load_data",
    "load_study_config",
    "open_config_study",
    "parse_yaml",
    "run_study_config",
    "study_config_from_dict",
]
