"""Exporting an MLP to ONNX with the outputs tunelab's ONNX runner reads.

Classifiers export ``(label, probabilities)`` with the class labels built into the
graph; regressors export ``(prediction,)``. The TorchScript-based exporter is used
because it needs nothing beyond PyTorch and ``onnx``; the newer ``torch.export``
based one also needs ``onnxscript``.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunelab.torch._build import MLP

OPSET = 17


class _WithLabels(nn.Module):
    classes: torch.Tensor

    def __init__(self, network: MLP, classes: torch.Tensor) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("classes", classes)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(features)
        return self.classes[logits.argmax(dim=1)], torch.softmax(logits, dim=1)


def export_onnx(module: MLP, classes: Sequence[Any] | None = None) -> bytes:
    """The ONNX model (bytes) of ``module`` with a dynamic batch axis, input ``X``.

    Args:
        module: The trained network; a copy is exported on the CPU in eval mode.
        classes: Integer class labels, one per output (classification only).

    Raises:
        ValueError: ``classes`` are not integers.
    """
    network = copy.deepcopy(module).to("cpu").eval()
    if module.spec.task == "classification":
        labels = np.arange(module.spec.n_outputs) if classes is None else np.asarray(classes)
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"class labels of dtype {labels.dtype} cannot be outputs of an ONNX graph "
                "exported from PyTorch; fit on integer labels to convert"
            )
        graph: nn.Module = _WithLabels(network, torch.from_numpy(labels.astype(np.int64)))
        outputs = ["label", "probabilities"]
    else:
        graph, outputs = network, ["prediction"]
    axes = {name: {0: "rows"} for name in ["X", *outputs]}
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        target = Path(folder, "model.onnx")
        torch.onnx.export(
            graph,
            (torch.zeros(2, module.spec.n_inputs),),
            target,
            input_names=["X"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
        return target.read_bytes()
