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

Fields (only ``data``, ``model``, ``space``, ``metric``/``metrics`` (or ``objectives``) and a
budget are required):

- ``data``: ``sklearn:<name>`` for a data set shipped with scikit-learn
  (breast_cancer, diabetes, digits, iris, wine), ``<file.csv|file.parquet>#<target>``,
  or a mapping with ``sklearn`` or ``path`` (relative to the config file), ``target``,
  ``drop`` (columns that are not features) and ``id`` (an identifier column).
- ``model``: the import path of a scikit-learn-style estimator, or a mapping with
  ``class`` and ``params`` (fixed hyperparameters), or a choice of model families
  ``{choice: {NAME: {class, params, space}}}``: the trial parameter ``model`` picks a
  family and its parameters are searched as ``NAME.PARAM`` (no top-level ``space`` then).
  Every family must be of the same kind (all classifiers or all regressors).
- ``space``: the dict form of :func:`tunelab.space.space_from_dict`, where an entry
  ``NAME: {layers: [low, high], width: {int: [a, b]} or {categorical: [...]}}`` searches
  a network's depth and each layer's width (trial parameters ``NAME.n_layers`` and
  ``NAME.width_{i}`` for each layer the trial has, as :func:`tunelab.torch.suggest_mlp`
  names them), joined into the tuple ``NAME`` (``hidden_layer_sizes`` of scikit-learn's
  MLPs, ``hidden`` of ``tunelab.torch``'s estimators) when the trial's model is built.
- ``cv``: folds as an int (stratified for classifiers, shuffled), or a mapping with
  ``kind`` (auto, stratified, kfold, group, repeated), ``n_splits``, ``n_repeats``,
  ``shuffle``, ``random_state`` and ``group_column``.
- ``metric`` or ``metrics``: scikit-learn scorer names; the first is the objective.
- ``direction``: ``maximize`` (the default; every metric is higher-is-better).
- ``objectives`` (in place of ``metric``/``metrics`` and ``direction``): a list of
  names, or of ``{name: direction}``: quality metrics (scorer names, maximised) and
  deployment metrics ``latency_p50_ms``, ``latency_p95_ms`` (one-row calls),
  ``batch_p50_ms``, ``batch_p95_ms`` and ``size_mb`` (minimised) of the model as
  served by ONNX Runtime on one thread (:func:`tunelab.deploy.measure`). At least one
  quality metric. Each trial stores every quality metric as a user attribute and,
  when deployment is measured, ``"deployment"`` (the measurement, with ``precision``).
- ``constraints``: strings ``NAME OP NUMBER`` (``<``, ``<=``, ``>``, ``>=``; ``<`` and
  ``<=`` both accept the bound itself) over the objectives' quality metrics and the
  deployment metrics, e.g. ``"latency_p95_ms < 1"``. Stored per trial as the samplers'
  constraint values (feasible when all are <= 0); without a ``sampler`` the study
  uses TPE, which honours them.
- ``deploy``: ``precision`` (``float32``, ``int8``, or a list of both to search the
  trial parameter ``precision``), ``sample_rows`` (256, drawn once with ``seed``),
  ``calls`` (200 timed one-row calls), ``warmup`` (20), ``batch_rows`` (256) and
  ``features`` (keep the k best features by a univariate F score, inside a
  ``Pipeline``: a number, or ``{int: [low, high]}`` to search the trial parameter
  ``features``; not before a ``tunelab.torch`` model, which ONNX cannot join to it).
  Each trial's model is refitted on every row and measured; a model ONNX cannot
  convert fails its trial. Deployment is measured when a deployment
  metric is an objective or constrained, or a ``deploy`` block is given. Run with
  ``n_jobs: 1`` for latencies that trials running side by side do not disturb.
- ``sampler`` / ``pruner``: a kind, or a mapping with ``kind`` and constructor options.
  Kinds include ``nsga2`` and ``nsga3`` for several objectives; a pruner needs a
  single objective.
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
from tunelab.config._deploy import DeployConfig, build_trial_estimator, trial_precision
from tunelab.config._fields import ConfigError
from tunelab.config._model import ModelConfig, build_estimator, model_from_spec
from tunelab.config._objectives import (
    DEPLOYMENT_METRICS,
    Constraint,
    ConstraintValues,
    Objective,
)
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
    "DEPLOYMENT_METRICS",
    "SKLEARN_DATASETS",
    "CVConfig",
    "ComponentConfig",
    "ConfigError",
    "ConfigObjective",
    "Constraint",
    "ConstraintValues",
    "DataConfig",
    "DeployConfig",
    "ModelConfig",
    "Objective",
    "StudyConfig",
    "build_estimator",
    "build_pruner",
    "build_sampler",
    "build_trial_estimator",
    "check_run_options",
    "data_config",
    "load_data",
    "load_study_config",
    "model_from_spec",
    "open_config_study",
    "optimize_config",
    "parse_yaml",
    "register_best_trial",
    "run_study_config",
    "study_config_from_dict",
    "trial_precision",
]
