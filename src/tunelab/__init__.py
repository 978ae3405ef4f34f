"""tunelab: evaluate, tune and deploy machine-learning models.

The tuning API follows Optuna's names (``create_study``, ``trial.suggest_*``,
``study.optimize``) so existing objectives run unchanged.
"""

from tunelab import deploy, logging, pruners, samplers, space, storage
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
    Study,
    StudyView,
    create_study,
    delete_study,
    get_all_study_summaries,
    load_study,
)
from tunelab.trial import BaseTrial, FrozenTrial, StudyDirection, Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "BaseTrial",
    "ConversionError",
    "DuplicatedStudyError",
    "FrozenTrial",
    "LoadedModel",
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
    "create_study",
    "delete_study",
    "deploy",
    "get_all_study_summaries",
    "load_model",
    "load_study",
    "logging",
    "pruners",
    "samplers",
    "save_model",
    "space",
    "storage",
    "to_onnx",
]
