"""Turning user data (NumPy, pandas, tensors) into checked tensors."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from tunelab.torch._spec import MLPSpec


def as_features(X: Any, *, name: str = "X", spec: MLPSpec | None = None) -> torch.Tensor:
    """``X`` as a finite float32 CPU matrix, checked against ``spec.n_inputs``.

    Raises:
        ValueError: ``X`` is not numeric, not 2-D, empty, holds NaN or infinity, or
            its width differs from the spec's.
    """
    if isinstance(X, torch.Tensor):
        tensor = X.detach().to(device="cpu", dtype=torch.float32)
    else:
        try:
            array = np.asarray(_to_numpy(X), dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from None
        tensor = torch.from_numpy(array)
    if tensor.ndim != 2 or tensor.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    if spec is not None and tensor.shape[1] != spec.n_inputs:
        raise ValueError(
            f"{name} has {tensor.shape[1]} columns but the module takes {spec.n_inputs} "
            "inputs (spec.n_inputs)"
        )
    return tensor


def as_targets(
    y: Any, *, task: str, n_rows: int, name: str = "y", spec: MLPSpec | None = None
) -> torch.Tensor:
    """``y`` as class indices (int64, 1-D) or regression targets (float32, 2-D).

    Raises:
        ValueError: Wrong length; classification targets that are not integers in
            ``[0, n_outputs)``; regression targets that are not finite numbers.
    """
    array = _to_numpy(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    array = np.asarray(array)
    if array.shape[:1] != (n_rows,):
        raise ValueError(
            f"{name} must have one entry per row of X ({n_rows}), got shape {array.shape}"
        )
    if task == "classification":
        return _class_indices(array, name, spec)
    try:
        values = array.astype(np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: regression targets must be numbers, got {array.dtype}") from None
    values = values.reshape(n_rows, -1)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if spec is not None and values.shape[1] != spec.n_outputs:
        raise ValueError(
            f"{name} has {values.shape[1]} target column(s) but the module has "
            f"{spec.n_outputs} output(s) (spec.n_outputs)"
        )
    return torch.from_numpy(np.ascontiguousarray(values))


def _class_indices(array: np.ndarray, name: str, spec: MLPSpec | None) -> torch.Tensor:
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and np.isfinite(array).all() and np.all(array == np.round(array))
    )
    if array.ndim != 1 or not integral:
        raise ValueError(
            f"{name}: classification targets must be a 1-D array of class indices "
            "0..n_outputs-1 (TorchClassifier accepts any labels and encodes them)"
        )
    indices = array.astype(np.int64)
    limit = spec.n_outputs if spec is not None else None
    if indices.min() < 0 or (limit is not None and indices.max() >= limit):
        raise ValueError(
            f"{name}: class indices must lie in [0, {limit if limit else 'n_outputs'}), got "
            f"values from {indices.min()} to {indices.max()}"
        )
    return torch.from_numpy(indices)


def _to_numpy(data: Any) -> Any:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame | pandas.Series):
        return data.to_numpy()
    return data
