"""Asking a trial for a network's structure and its regularisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab._validation import check_int
from tunelab.space._layers import n_layers_param, width_param
from tunelab.torch._checks import check_number, check_range
from tunelab.torch._spec import ACTIVATIONS, MLPSpec
from tunelab.trial import BaseTrial

DEFAULT_WIDTHS = (16, 32, 64, 128, 256)
DEFAULT_ACTIVATIONS = ("relu", "gelu", "tanh")


def suggest_mlp(
    trial: BaseTrial,
    *,
    n_inputs: int,
    n_outputs: int,
    task: str = "classification",
    min_layers: int = 1,
    max_layers: int = 3,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    activations: Sequence[str] = DEFAULT_ACTIVATIONS,
    dropout: tuple[float, float] = (0.0, 0.5),
    batch_norm: Sequence[bool] = (False, True),
    prefix: str = "",
) -> MLPSpec:
    """Ask ``trial`` for an MLP's depth, widths, activation, dropout and batch norm.

    Parameters (each name starts with ``prefix``): ``n_layers``; ``width_{i}`` for
    each hidden layer ``i < n_layers`` only, so a shallow trial has no width for deep
    layers; and, when there is a hidden layer, ``activation``, ``dropout`` and
    ``batch_norm``. A choice with a single option, or a dropout range with
    ``low == high``, is fixed rather than suggested.

    Args:
        trial: The running trial.
        n_inputs: Number of input features.
        n_outputs: Number of classes (classification) or targets (regression).
        task: ``classification`` or ``regression``.
        min_layers: Fewest hidden layers (0 allows a linear model).
        max_layers: Most hidden layers.
        widths: Widths a hidden layer may take.
        activations: Activation names to choose from (a subset of :data:`ACTIVATIONS`).
        dropout: ``(low, high)`` range of the dropout rate, ``0 <= low <= high < 1``.
        batch_norm: Batch-norm settings to choose from.
        prefix: Prepended to every parameter name, to tune several networks at once.

    Returns:
        The chosen architecture.

    Raises:
        ValueError: An argument is out of range (the message names it).
    """
    # Checked before any suggestion so a bad call records nothing in the trial.
    MLPSpec(n_inputs=n_inputs, n_outputs=n_outputs, task=task)
    check_int("min_layers", min_layers, 0)
    check_int("max_layers", max_layers, min_layers)
    width_choices = _int_choices(widths)
    activation_choices = _activation_choices(activations)
    low, high = check_range("dropout", dropout, below_one=True)
    norm_choices = _bool_choices(batch_norm)
    n_layers = trial.suggest_int(n_layers_param(prefix), min_layers, max_layers)
    hidden = [_choose(trial, width_param(prefix, i), width_choices) for i in range(n_layers)]
    fields: dict[str, Any] = {}
    if hidden:
        fields["activation"] = _choose(trial, f"{prefix}activation", activation_choices)
        fields["dropout"] = (
            low if low == high else trial.suggest_float(f"{prefix}dropout", low, high)
        )
        fields["batch_norm"] = _choose(trial, f"{prefix}batch_norm", norm_choices)
    return MLPSpec(
        n_inputs=n_inputs, n_outputs=n_outputs, hidden=tuple(hidden), task=task, **fields
    )


@dataclass(frozen=True, kw_only=True)
class Regularization:
    """Penalties for training: decoupled weight decay and L1/L2 terms in the loss.

    All three act on weights only; biases and normalisation parameters are left
    free, since shrinking them only shifts activations.

    Attributes:
        weight_decay: Decoupled weight decay of the optimizer.
        l1: Coefficient of the summed absolute weights added to the loss.
        l2: Coefficient of the summed squared weights added to the loss.

    Raises:
        ValueError: A value is negative or not finite.
    """

    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("weight_decay", "l1", "l2"):
            object.__setattr__(self, name, check_number(name, getattr(self, name), minimum=0.0))

    def to_dict(self) -> dict[str, float]:
        """Keyword arguments for :func:`tunelab.torch.fit` (and the estimators)."""
        return {"weight_decay": self.weight_decay, "l1": self.l1, "l2": self.l2}


def suggest_regularization(
    trial: BaseTrial,
    *,
    weight_decay: tuple[float, float] | None = (1e-6, 1e-2),
    l1: tuple[float, float] | None = None,
    l2: tuple[float, float] | None = None,
    prefix: str = "",
) -> Regularization:
    """Ask ``trial`` for the strength of each penalty given a range, on a log scale.

    A penalty whose range is None is off (0) and not suggested.

    Args:
        trial: The running trial.
        weight_decay: ``(low, high)`` with ``0 < low <= high``, or None.
        l1: ``(low, high)`` with ``0 < low <= high``, or None.
        l2: ``(low, high)`` with ``0 < low <= high``, or None.
        prefix: Prepended to the parameter names ``weight_decay``, ``l1`` and ``l2``.

    Raises:
        ValueError: A range is malformed (the message names it).
    """
    ranges = {"weight_decay": weight_decay, "l1": l1, "l2": l2}
    checked = {
        name: check_range(name, bounds, positive=True)
        for name, bounds in ranges.items()
        if bounds is not None
    }
    values = {
        name: trial.suggest_float(f"{prefix}{name}", low, high, log=True)
        for name, (low, high) in checked.items()
    }
    return Regularization(**values)


def _choose(trial: BaseTrial, name: str, choices: tuple[Any, ...]) -> Any:
    return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, choices)


def _int_choices(widths: Sequence[int]) -> tuple[int, ...]:
    choices = tuple(widths) if isinstance(widths, Sequence) else ()
    valid = all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in choices)
    if not choices or not valid or len(set(choices)) != len(choices):
        raise ValueError(f"widths must be distinct positive integers, got {widths!r}")
    return choices


def _activation_choices(activations: Sequence[str]) -> tuple[str, ...]:
    choices = tuple(activations) if isinstance(activations, Sequence) else ()
    if isinstance(activations, str) or not choices or len(set(choices)) != len(choices):
        raise ValueError(
            f"activations must be distinct names among {list(ACTIVATIONS)}, got {activations!r}"
        )
    unknown = [name for name in choices if name not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"activations: unknown {unknown}; accepted values are {list(ACTIVATIONS)}")
    return choices


def _bool_choices(batch_norm: Sequence[bool]) -> tuple[bool, ...]:
    choices = tuple(batch_norm) if isinstance(batch_norm, Sequence) else ()
    if (
        not choices
        or not all(isinstance(c, bool) for c in choices)
        or len(set(choices)) != len(choices)
    ):
        raise ValueError(
            f"batch_norm must be distinct booleans, e.g. (False, True), got {batch_norm!r}"
        )
    return choices
