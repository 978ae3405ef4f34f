"""Training a module, reporting each epoch to a trial and stopping when it is pruned."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tunelab._validation import check_int
from tunelab.exceptions import TrialPruned
from tunelab.torch._build import MLP, resolve_device, seeded
from tunelab.torch._checks import check_number
from tunelab.torch._data import as_features, as_targets
from tunelab.torch._spec import TASKS, MLPSpec
from tunelab.trial import BaseTrial

OPTIMIZERS = ("adamw", "sgd")
_INFERENCE_BATCH = 4096

Scorer = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class History:
    """What happened during :func:`fit`, one entry per epoch.

    Attributes:
        metric: The validation metric (``loss``, or a scorer name).
        device: The device trained on.
        train_loss: Mean training loss (without penalties) per epoch.
        val_loss: Validation loss per epoch (empty without validation data).
        val_score: Validation metric per epoch, as reported to the trial.
    """

    metric: str
    device: str
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return len(self.train_loss)

    @property
    def best_epoch(self) -> int | None:
        """Epoch with the best validation metric (lowest loss, highest score)."""
        if not self.val_score:
            return None
        scores = np.asarray(self.val_score)
        return int(np.argmin(scores) if self.metric == "loss" else np.argmax(scores))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "device": self.device,
            "train_loss": list(self.train_loss),
            "val_loss": list(self.val_loss),
            "val_score": list(self.val_score),
        }


def fit(
    module: nn.Module,
    X: Any,
    y: Any,
    *,
    task: str | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    l1: float = 0.0,
    l2: float = 0.0,
    optimizer: str = "adamw",
    validation_data: tuple[Any, Any] | None = None,
    metric: str = "loss",
    trial: BaseTrial | None = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
) -> History:
    """Train ``module`` on ``(X, y)``, scoring ``validation_data`` after every epoch.

    Classification minimises cross-entropy on logits, with ``y`` holding class
    indices; regression minimises mean squared error. Weight decay, L1 and L2 apply
    to weights only (parameters with two or more dimensions), never to biases or
    normalisation parameters. With a ``trial``, the validation metric of epoch ``e``
    (from 0) is reported as step ``e`` and :class:`tunelab.TrialPruned` is raised as
    soon as the study's pruner asks for it. The module is left on ``device``, in
    evaluation mode.

    Args:
        module: The network; a :class:`tunelab.torch.MLP` brings its task and widths.
        X: Features, a 2-D array, DataFrame or tensor.
        y: Class indices (classification) or targets (regression).
        task: ``classification`` or ``regression``; taken from the spec of an MLP.
        epochs: Passes over the training data.
        batch_size: Rows per optimisation step.
        lr: Learning rate.
        weight_decay: Decoupled weight decay (AdamW's, or SGD's).
        l1: Coefficient of the L1 penalty on weights, added to the loss.
        l2: Coefficient of the L2 penalty on weights, added to the loss.
        optimizer: ``adamw`` or ``sgd`` (momentum 0.9).
        validation_data: ``(X_val, y_val)`` scored after each epoch.
        metric: ``loss`` (validation loss, lower is better) or a metric name computed
            from predictions or probabilities, e.g. ``accuracy``, ``f1``,
            ``neg_log_loss``, ``r2``, ``neg_mean_squared_error``: these follow
            scikit-learn's convention, higher is better. Match the study's direction.
        trial: A trial to report to and be pruned by; needs ``validation_data``.
        device: ``cpu``, ``cuda``, ``cuda:N``, or None for CUDA when available.
        seed: Seed for shuffling and dropout (the global generators are restored).

    Returns:
        Losses and validation scores per epoch.

    Raises:
        TrialPruned: The trial's pruner stopped training.
        ValueError: A bad argument or data (the message names it).
        FloatingPointError: The training loss became NaN or infinite.
    """
    config = _TrainConfig.checked(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        l1=l1,
        l2=l2,
        optimizer=optimizer,
        seed=seed,
    )
    spec = module.spec if isinstance(module, MLP) else None
    task = _task(task, spec)
    features = as_features(X, spec=spec)
    targets = as_targets(y, task=task, n_rows=features.shape[0], spec=spec)
    validation = _validation(validation_data, task, spec)
    if trial is not None and validation is None:
        raise ValueError("trial: reporting to a trial needs validation_data=(X_val, y_val)")
    scorer = _scorer(metric, task)
    target_device = resolve_device(device)
    history = History(metric=metric, device=str(target_device))
    module.to(target_device)
    loss_fn: nn.Module = nn.CrossEntropyLoss() if task == "classification" else nn.MSELoss()
    with seeded(seed, target_device):
        step = _Stepper(module, loss_fn, config, target_device)
        for epoch in range(config.epochs):
            history.train_loss.append(step.epoch(features, targets, epoch))
            if validation is None:
                continue
            val_loss, score = _validate(module, loss_fn, scorer, validation)
            history.val_loss.append(val_loss)
            history.val_score.append(score)
            if trial is not None:
                _report(trial, score, epoch, metric)
    module.eval()
    return history


def predict_outputs(module: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """Raw outputs (logits or values) of ``module`` in evaluation mode, on the CPU.

    The module's training/evaluation mode is restored afterwards.
    """
    first = next(iter(module.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            chunks = [
                module(features[start : start + _INFERENCE_BATCH].to(device)).cpu()
                for start in range(0, features.shape[0], _INFERENCE_BATCH)
            ]
    finally:
        module.train(was_training)
    return torch.cat(chunks)


@dataclass(frozen=True)
class _TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    l1: float
    l2: float
    optimizer: str

    @classmethod
    def checked(
        cls,
        *,
        epochs: Any,
        batch_size: Any,
        lr: Any,
        weight_decay: Any,
        l1: Any,
        l2: Any,
        optimizer: Any,
        seed: Any,
    ) -> _TrainConfig:
        check_int("epochs", epochs, 1)
        check_int("batch_size", batch_size, 1)
        if seed is not None:
            check_int("seed", seed, 0)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
        return cls(
            epochs=epochs,
            batch_size=batch_size,
            lr=check_number("lr", lr, minimum=0.0, inclusive=False),
            weight_decay=check_number("weight_decay", weight_decay, minimum=0.0),
            l1=check_number("l1", l1, minimum=0.0),
            l2=check_number("l2", l2, minimum=0.0),
            optimizer=optimizer,
        )


class _Stepper:
    """One optimiser over a module's weights (decayed) and other parameters (not)."""

    def __init__(
        self, module: nn.Module, loss_fn: nn.Module, config: _TrainConfig, device: torch.device
    ) -> None:
        self.module = module
        self.loss_fn = loss_fn
        self.config = config
        self.device = device
        trainable = [p for p in module.parameters() if p.requires_grad]
        # Biases and norm scales are 1-D; shrinking them only shifts activations.
        self.weights = [p for p in trainable if p.ndim >= 2]
        others = [p for p in trainable if p.ndim < 2]
        groups = [
            {"params": self.weights, "weight_decay": config.weight_decay},
            {"params": others, "weight_decay": 0.0},
        ]
        if config.optimizer == "adamw":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=0.9)

    def epoch(self, features: torch.Tensor, targets: torch.Tensor, epoch: int) -> float:
        """One shuffled pass; returns the mean data loss."""
        self.module.train()
        n_rows = features.shape[0]
        order = torch.randperm(n_rows)
        total = torch.zeros((), device=self.device)
        seen = 0
        for start in range(0, n_rows, self.config.batch_size):
            rows = order[start : start + self.config.batch_size]
            if rows.numel() == 1 and n_rows > 1:
                continue  # batch norm cannot normalise a batch of one row
            loss = self._step(features[rows].to(self.device), targets[rows].to(self.device))
            total += loss.detach() * rows.numel()
            seen += rows.numel()
        mean = float(total) / seen
        if not math.isfinite(mean):
            raise FloatingPointError(
                f"the training loss became {mean} in epoch {epoch}; lower lr or scale the inputs"
            )
        return mean

    def _step(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        outputs = self.module(inputs)
        _check_output_shape(outputs, targets)
        loss = self.loss_fn(outputs, targets)
        objective = loss + self._penalty()
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        return loss

    def _penalty(self) -> torch.Tensor | float:
        penalty: torch.Tensor | float = 0.0
        if self.config.l1 > 0:
            penalty = penalty + self.config.l1 * sum(w.abs().sum() for w in self.weights)
        if self.config.l2 > 0:
            penalty = penalty + self.config.l2 * sum(w.pow(2).sum() for w in self.weights)
        return penalty


def _check_output_shape(outputs: torch.Tensor, targets: torch.Tensor) -> None:
    if targets.ndim == 1:  # class indices: one logit per class
        if outputs.ndim != 2:
            raise ValueError(f"the module must output (rows, classes), got {tuple(outputs.shape)}")
        return
    if outputs.shape != targets.shape:
        raise ValueError(
            f"the module outputs shape {tuple(outputs.shape)} but the targets have shape "
            f"{tuple(targets.shape)}"
        )


def _task(task: str | None, spec: MLPSpec | None) -> str:
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    if spec is None:
        if task is None:
            raise ValueError(
                f"task: a module not built by build_mlp needs task= one of {list(TASKS)}"
            )
        return task
    if task is not None and task != spec.task:
        raise ValueError(f"task: {task!r} contradicts the module's spec.task {spec.task!r}")
    return spec.task


def _validation(
    data: tuple[Any, Any] | None, task: str, spec: MLPSpec | None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    if data is None:
        return None
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError("validation_data must be a pair (X_val, y_val)")
    features = as_features(data[0], name="validation X", spec=spec)
    targets = as_targets(
        data[1], task=task, n_rows=features.shape[0], name="validation y", spec=spec
    )
    return features, targets


def _scorer(metric: str, task: str) -> Scorer | None:
    if metric == "loss":
        return None
    if not isinstance(metric, str):
        raise ValueError(f"metric must be 'loss' or a metric name, got {metric!r}")
    from tunelab.evaluation.metrics import Metric, get_metric

    resolved = get_metric(metric)
    if not isinstance(resolved, Metric):
        raise ValueError(
            f"metric {metric!r} needs a fitted estimator; fit() accepts 'loss' or a name "
            "computed from predictions or probabilities (e.g. accuracy, f1, neg_log_loss, r2)"
        )
    if task == "regression" and resolved.needs != "predictions":
        raise ValueError(f"metric {metric!r} needs class probabilities; this is a regression")

    def score(outputs: torch.Tensor, targets: torch.Tensor) -> float:
        truth = targets.numpy()
        if task == "regression":
            values = outputs.numpy()
            predicted = values[:, 0] if values.shape[1] == 1 else values
            return float(resolved.score(truth[:, 0] if truth.shape[1] == 1 else truth, predicted))
        if resolved.needs == "predictions":
            return float(resolved.score(truth, outputs.argmax(dim=1).numpy()))
        return float(resolved.score(truth, torch.softmax(outputs, dim=1).double().numpy()))

    return score


def _validate(
    module: nn.Module,
    loss_fn: nn.Module,
    scorer: Scorer | None,
    validation: tuple[torch.Tensor, torch.Tensor],
) -> tuple[float, float]:
    features, targets = validation
    outputs = predict_outputs(module, features)
    _check_output_shape(outputs, targets)
    with torch.no_grad():
        loss = float(loss_fn(outputs, targets))
    return loss, loss if scorer is None else scorer(outputs, targets)


def _report(trial: BaseTrial, score: float, epoch: int, metric: str) -> None:
    trial.report(score, epoch)
    if trial.should_prune():
        raise TrialPruned(f"pruned after epoch {epoch} with validation {metric} {score:.6g}")
