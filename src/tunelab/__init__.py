"""tunelab: evaluate, tune and deploy machine-learning models.

The tuning API follows Optuna's names (``create_study``, ``trial.suggest_*``,
``study.optimize``) so existing objectives run unchanged.
"""

import importlib
from typing import Any

from tunelab import (
    deploy,
    distributions,
    exceptions,
    logging,
    pruners,
    samplers,
    search_space,
    space,
    storage,
    storages,
    study,
    trial,
)
from tunelab.deploy import (
    ArtifactError,
    ConversionError,
    LoadedModel,
    Registry,
    RegistryError,
    Signature,
    SignatureError,
    load_model,
    save_model,
    to_onnx,
)
from tunelab.exceptions import (
    DuplicatedStudyError,
    SchemaVersionError,
    StorageError,
    StudyNotFoundError,
    TrialPruned,
    TunelabError,
    UpdateFinishedTrialError,
)
from tunelab.storage import StudySummary
from tunelab.study import (
    MaxTrialsCallback,
    Study,
    StudyView,
    copy_study,
    create_study,
    delete_study,
    get_all_study_names,
    get_all_study_summaries,
    load_study,
)
from tunelab.trial import (
    BaseTrial,
    FixedTrial,
    FrozenTrial,
    StudyDirection,
    Trial,
    TrialState,
    create_trial,
)

__version__ = "0.1.0"

# Evaluation and reports pull in scipy.stats and scikit-learn: load them on first use
# so that `import tunelab` (and every CLI command) stays quick.
_LAZY = {
    "evaluate": ("tunelab.evaluation", "evaluate"),
    "compare": ("tunelab.evaluation", "compare"),
    "Evaluation": ("tunelab.evaluation", "Evaluation"),
    "evaluation": ("tunelab.evaluation", None),
    "report": ("tunelab.report", None),
    "sklearn": ("tunelab.sklearn", None),
    "integration": ("tunelab.integration", None),
    "metrics": ("tunelab.metrics", None),
    "config": ("tunelab.config", None),
    "torch": ("tunelab.torch", None),
    "terminator": ("tunelab.terminator", None),
    "importance": ("tunelab.importance", None),
    "visualization": ("tunelab.visualization", None),
    "artifacts": ("tunelab.artifacts", None),
    # Optuna's private path, which plugins reach as ``optuna._hypervolume.compute_hypervolume``.
    "_hypervolume": ("tunelab._hypervolume", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tunelab' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)


__all__ = [  # noqa: RUF022 - public names first, then the lazily loaded ones
    "ArtifactError",
    "BaseTrial",
    "ConversionError",
    "DuplicatedStudyError",
    "FixedTrial",
    "FrozenTrial",
    "LoadedModel",
    "MaxTrialsCallback",
    "Registry",
    "RegistryError",
    "SchemaVersionError",
    "Signature",
    "SignatureError",
    "StorageError",
    "Study",
    "StudyDirection",
    "StudyNotFoundError",
    "StudySummary",
    "StudyView",
    "Trial",
    "TrialPruned",
    "TrialState",
    "TunelabError",
    "UpdateFinishedTrialError",
    "copy_study",
    "create_study",
    "create_trial",
    "delete_study",
    "deploy",
    "distributions",
    "exceptions",
    "get_all_study_names",
    "get_all_study_summaries",
    "load_model",
    "load_study",
    "logging",
    "pruners",
    "samplers",
    "save_model",
    "search_space",
    "space",
    "storage",
    "storages",
    "study",
    "to_onnx",
    "trial",
    "Evaluation",
    "compare",
    "evaluate",
    "evaluation",
    "report",
    "sklearn",
    "integration",
    "metrics",
    "config",
    "terminator",
    "importance",
    "visualization",
    "artifacts",
]
