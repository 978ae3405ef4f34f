"""Faces of tunelab for other libraries' users.

:class:`OptunaSearchCV` is Optuna's scikit-learn search estimator
(``optuna.integration.OptunaSearchCV``) with the same signature and results,
running on tunelab's studies. :class:`LightningPruningCallback` and
:class:`HuggingFacePruningCallback` report a training run's validation metric
to a trial and stop the run when it is pruned; they import Lightning and
transformers on first access (extras ``tunelab[lightning]`` and
``tunelab[transformers]``).
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
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
