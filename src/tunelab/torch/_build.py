"""Building modules from specs, and choosing the device they run on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from tunelab._validation import check_int
from tunelab.torch._spec import MLPSpec, as_spec

_ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


class MLP(nn.Sequential):
    """A multi-layer perceptron built from an :class:`MLPSpec`, which it keeps.

    Layers are named ``linear{i}``, ``norm{i}``, ``act{i}``, ``drop{i}`` and
    ``output``, so weight files read naturally. Classification modules return logits.

    Args:
        spec: The architecture.

    Attributes:
        spec: The architecture the module was built from (saved with its weights).
    """

    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        self.spec = spec
        width = spec.n_inputs
        for i, size in enumerate(spec.hidden):
            self.add_module(f"linear{i}", nn.Linear(width, size))
            if spec.batch_norm:
                self.add_module(f"norm{i}", nn.BatchNorm1d(size))
            self.add_module(f"act{i}", _ACTIVATION_LAYERS[spec.activation]())
            if spec.dropout > 0:
                self.add_module(f"drop{i}", nn.Dropout(spec.dropout))
            width = size
        self.add_module("output", nn.Linear(width, spec.n_outputs))


def build_mlp(spec: MLPSpec | Mapping[str, Any], *, seed: int | None = None) -> MLP:
    """Build the network a spec describes.

    Args:
        spec: An :class:`MLPSpec` or its dictionary form (e.g. from JSON).
        seed: Seed for the initial weights; None draws from PyTorch's global generator.

    Returns:
        A freshly initialised :class:`MLP` on the CPU, in training mode.

    Raises:
        ValueError: The spec is invalid (the message names the field), or ``seed`` is
            not a non-negative integer.
    """
    checked = as_spec(spec)
    if seed is None:
        return MLP(checked)
    check_int("seed", seed, 0)
    with seeded(seed, torch.device("cpu")):
        return MLP(checked)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on: CUDA when available for ``None``, else the one named.

    Raises:
        ValueError: ``device`` is not a device name, or names CUDA where there is none.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            "device: expected None (CUDA when available, else CPU), 'cpu', 'cuda', "
            f"'cuda:N' or a torch.device, got {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: {device!r} was asked for but CUDA is not available here; "
            "pass device=None to use CUDA only when present"
        )
    return resolved


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed PyTorch's generators inside the block and restore them after it."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
