"""PyTorch integration: structure search, regularisation and training with pruning.

``build_mlp(spec)`` turns a JSON-serialisable :class:`MLPSpec` into a module;
``suggest_mlp`` and ``suggest_regularization`` ask a trial for one; ``fit`` trains
it, reporting every epoch to the trial and raising :class:`tunelab.TrialPruned` when
the pruner says so. :class:`TorchClassifier` and :class:`TorchRegressor` wrap all of
it in scikit-learn's estimator API. Modules built here save with
:func:`tunelab.save_model` as safetensors weights plus their spec.

Needs PyTorch: ``pip install 'tunelab[torch]'``.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401 - fail here, with the install hint
except ImportError as exc:
    raise ImportError("tunelab.torch needs PyTorch: pip install 'tunelab[torch]'") from exc

from tunelab.torch._build import MLP, build_mlp, resolve_device
from tunelab.torch._estimator import TorchClassifier, TorchEstimator, TorchRegressor
from tunelab.torch._spec import ACTIVATIONS, TASKS, MLPSpec
from tunelab.torch._suggest import Regularization, suggest_mlp, suggest_regularization
from tunelab.torch._train import OPTIMIZERS, History, fit

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "OPTIMIZERS",
    "TASKS",
    "History",
    "MLPSpec",
    "Regularization",
    "TorchClassifier",
    "TorchEstimator",
    "TorchRegressor",
    "build_mlp",
    "fit",
    "resolve_device",
    "suggest_mlp",
    "suggest_regularization",
]
