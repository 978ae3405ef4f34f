"""The study API under the module path Optuna code also imports it from (``optuna.study.study``).

Plugins annotate with ``optuna.study.study.Study`` and ``ObjectiveFuncType``
(``optuna-integration``'s MLflow, Comet and W&B callbacks import the latter at
load time); the names are those of :mod:`tunelab.study`.
"""

from __future__ import annotations

from tunelab.study import (
    METRIC_NAMES_KEY,
    Study,
    copy_study,
    create_study,
    delete_study,
    get_all_study_names,
    get_all_study_summaries,
    load_study,
)
from tunelab.study import ObjectiveFunc as ObjectiveFuncType

# The study system attribute holding the objectives' names (Optuna's private name for it).
_SYSTEM_ATTR_METRIC_NAMES = METRIC_NAMES_KEY

__all__ = [
    "ObjectiveFuncType",
    "Study",
    "copy_study",
    "create_study",
    "delete_study",
    "get_all_study_names",
    "get_all_study_summaries",
    "load_study",
]
