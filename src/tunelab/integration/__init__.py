"""Faces of tunelab for other libraries' users.

:class:`OptunaSearchCV` is Optuna's scikit-learn search estimator
(``optuna.integration.OptunaSearchCV``) with the same signature and results,
running on tunelab's studies. :class:`LightningPruningCallback` and
:class:`HuggingFacePruningCallback` report a training run's validation metric
to a trial and stop the run when it is pruned; they import Lightning and
transformers on first access (extras ``tunelab[lightning]`` and
``tunelab[transformers]``). Any other name Optuna's ``optuna.integration`` offers
(``XGBoostPruningCallback``, ``LightGBMPruningCallback``...) comes, as in Optuna, from
the ``optuna-integration`` package when it is installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunelab.integration._search_cv import OptunaSearchCV

if TYPE_CHECKING:
    from tunelab.integration.huggingface import HuggingFacePruningCallback
    from tunelab.integration.lightning import LightningPruningCallback

__all__ = ["HuggingFacePruningCallback", "LightningPruningCallback", "OptunaSearchCV"]

# Heavy frameworks load only when their callback is asked for.
_LAZY = {
    "LightningPruningCallback": "tunelab.integration.lightning",
    "HuggingFacePruningCallback": "tunelab.integration.huggingface",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    # Optuna forwards the rest of optuna.integration (XGBoost, LightGBM, Keras... callbacks)
    # to the optuna-integration package; those call only the trial's public methods, so
    # they run on tunelab trials too, and the Optuna TrialPruned they raise prunes.
    if not name.startswith("_"):
        try:
            extra = importlib.import_module("optuna_integration")
        except ImportError:
            extra = None
        if extra is not None and hasattr(extra, name):
            return getattr(extra, name)
        if extra is None:
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}; Optuna's other integrations "
                "come from the optuna-integration package: pip install optuna-integration"
            )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
