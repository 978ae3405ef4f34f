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

Limits that catch typos before a run starts: ``n_trials`` up to 10,000,000, ``timeout``
up to 100,000,000 s, ``n_jobs`` up to 4 per CPU, integers within 64 bits, ``seed`` within
32 bits, nesting up to 50 levels; ``storage`` must keep the study (no in-memory SQLite)
and a study name is printable text of at most 512 characters. A key given twice is an
error. Metrics must suit the model (classifier or regressor) and the target, and a
classifier needs a target of two classes or more.
"""

from tunelab.config._components import ComponentConfig, build_pruner, build_sampler
from tunelab.config._cv import CVConfig
from tunelab.config._data import SKLEARN_DATASETS, DataConfig, data_config, load_data
from tunelab.config._fields import ConfigError
from tunelab.config._model import ModelConfig, build_estimator
from tunelab.config._register import register_best_trial
from tunelab.config._run import (
    ConfigObjective,
    open_config_study,
    optimize_config,
    run_study_config,
)
from tunelab.config._study import (
    DEFAULT_STORAGE,
    StudyConfig,
    check_run_options,
    load_study_config,
    study_config_from_dict,
)
from tunelab.config._yaml import parse_yaml

__all__ = [
    "DEFAULT_STORAGE",
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
    "check_run_options",
    "data_config",
    "load_data",
    "load_study_config",
    "open_config_study",
    "optimize_config",
    "parse_yaml",
    "register_best_trial",
    "run_study_config",
    "study_config_from_dict",
]
