"""Architecture specs: plain, JSON-serialisable descriptions of a network.

A spec is all tunelab needs to rebuild a module, so an artifact stores the spec
beside the weights and never pickled code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab._validation import is_int, is_real

ACTIVATIONS = ("relu", "gelu", "tanh", "silu", "leaky_relu", "elu")
TASKS = ("classification", "regression")
SPEC_KIND = "mlp"
SPEC_VERSION = 1
_FIELDS = ("n_inputs", "n_outputs", "hidden", "activation", "dropout", "batch_norm", "task")


@dataclass(frozen=True, kw_only=True)
class MLPSpec:
    """A multi-layer perceptron: ``Linear → [BatchNorm] → activation → [Dropout]`` per
    hidden layer, then a ``Linear`` output layer.

    Attributes:
        n_inputs: Number of input features.
        n_outputs: Output width: one logit per class (classification, at least 2) or
            one value per target (regression).
        hidden: Width of each hidden layer, input side first (stored as a tuple);
            empty for a linear model.
        activation: One of :data:`ACTIVATIONS`, used after every hidden layer.
        dropout: Dropout rate after every hidden layer, in ``[0, 1)``.
        batch_norm: Whether a ``BatchNorm1d`` follows every hidden ``Linear``.
        task: ``classification`` (outputs are logits) or ``regression``.

    Raises:
        ValueError: A field is out of range; the message names it and what is accepted.
    """

    n_inputs: int
    n_outputs: int
    hidden: Sequence[int] = ()
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False
    task: str = "classification"

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalise the values once, here
        set_field(self, "n_inputs", _positive_int(self.n_inputs, "n_inputs"))
        set_field(self, "n_outputs", _positive_int(self.n_outputs, "n_outputs"))
        set_field(self, "hidden", _widths(self.hidden))
        set_field(self, "activation", _choice(self.activation, ACTIVATIONS, "activation"))
        set_field(self, "dropout", _dropout(self.dropout))
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"MLPSpec.batch_norm: expected True or False, got {self.batch_norm!r}")
        set_field(self, "task", _choice(self.task, TASKS, "task"))
        if self.task == "classification" and self.n_outputs < 2:
            raise ValueError(
                "MLPSpec.n_outputs: classification needs one output per class (at least 2), "
                f"got {self.n_outputs}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, tagged with the spec kind and version."""
        return {
            "kind": SPEC_KIND,
            "version": SPEC_VERSION,
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "task": self.task,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLPSpec:
        """Read a spec written by :meth:`to_dict` (``kind`` and ``version`` optional).

        Raises:
            ValueError: Unknown keys, another kind, a newer version or a bad field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"an MLP spec must be a mapping, got {type(data).__name__}")
        fields = dict(data)
        kind = fields.pop("kind", SPEC_KIND)
        version = fields.pop("version", SPEC_VERSION)
        if kind != SPEC_KIND:
            raise ValueError(f"spec kind: expected {SPEC_KIND!r}, got {kind!r}")
        if not isinstance(version, int) or isinstance(version, bool) or version > SPEC_VERSION:
            raise ValueError(
                f"spec version: this tunelab reads versions up to {SPEC_VERSION}, got {version!r}"
            )
        unknown = sorted(set(fields) - set(_FIELDS))
        if unknown:
            raise ValueError(f"spec has unknown field(s) {unknown}; accepted fields are {_FIELDS}")
        missing = [name for name in ("n_inputs", "n_outputs") if name not in fields]
        if missing:
            raise ValueError(f"spec is missing required field(s) {missing}")
        return cls(**fields)


def as_spec(spec: MLPSpec | Mapping[str, Any]) -> MLPSpec:
    """``spec`` itself, or the :class:`MLPSpec` a mapping describes."""
    if isinstance(spec, MLPSpec):
        return spec
    return MLPSpec.from_dict(spec)


def _positive_int(value: Any, name: str) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"MLPSpec.{name}: expected a positive integer, got {value!r}")
    return int(value)


def _widths(hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, str | bytes) or not hasattr(hidden, "__iter__"):
        raise ValueError(
            f"MLPSpec.hidden: expected a sequence of positive integers, got {hidden!r}"
        )
    return tuple(_positive_int(width, f"hidden[{i}]") for i, width in enumerate(hidden))


def _choice(value: Any, accepted: tuple[str, ...], name: str) -> str:
    if value not in accepted:
        raise ValueError(f"MLPSpec.{name}: expected one of {list(accepted)}, got {value!r}")
    return str(value)


def _dropout(value: Any) -> float:
    if not is_real(value):
        raise ValueError(f"MLPSpec.dropout: expected a number in [0, 1), got {value!r}")
    rate = float(value)
    if not (math.isfinite(rate) and 0.0 <= rate < 1.0):
        raise ValueError(f"MLPSpec.dropout: expected a number in [0, 1), got {value!r}")
    return rate
