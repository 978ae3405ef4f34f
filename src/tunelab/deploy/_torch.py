"""PyTorch models in artifacts and ONNX, for modules built by :mod:`tunelab.torch`.

A module is saved as its ``state_dict`` in safetensors (tensors only, nothing to
execute) plus its architecture spec in the model card; loading rebuilds the module
from the spec and copies the weights in. A module tunelab did not build cannot be
rebuilt without running its code, so it is refused rather than pickled.

Nothing here imports PyTorch until a PyTorch model or artifact is actually handled:
a model can only be a PyTorch module if PyTorch is already imported.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from tunelab._imports import optional_import
from tunelab.deploy import _onnx
from tunelab.deploy._card import CARD_FILE, ModelCard, library_versions, to_jsonable
from tunelab.deploy._errors import ArtifactError, ConversionError
from tunelab.deploy._signature import is_dataframe

TORCH_FORMAT: Final = "safetensors"
TORCH_LIBRARIES = ("torch", "safetensors")
_FOREIGN_ADVICE = (
    "tunelab saves PyTorch modules it can rebuild from an architecture spec, and never "
    "pickles code. Build the network with tunelab.torch.build_mlp(spec) (or use "
    "tunelab.torch.TorchClassifier / TorchRegressor), or export this module to ONNX "
    "yourself with torch.onnx.export and deploy that file"
)


def is_torch_model(model: Any) -> bool:
    """Whether ``model`` is a PyTorch module or a :mod:`tunelab.torch` estimator."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    if isinstance(model, torch.nn.Module):
        return True
    estimators = sys.modules.get("tunelab.torch._estimator")
    return estimators is not None and isinstance(model, estimators.TorchEstimator)


def prepare_for_save(model: Any, format: str) -> tuple[Any, Literal["safetensors"]]:
    """The estimator to save for a PyTorch ``model``, and the safetensors format.

    Raises:
        ValueError: ``format`` asks for pickle.
        ArtifactError: The module was not built by tunelab, was changed after it was
            built, or the estimator is not fitted.
    """
    if format not in ("skops", TORCH_FORMAT):
        raise ValueError(
            f"format: PyTorch models are saved as {TORCH_FORMAT!r} (weights plus "
            f"architecture spec), got {format!r}"
        )
    return _as_estimator(model, ArtifactError), TORCH_FORMAT


def write_torch_model(file: Path, model: Any, card: ModelCard) -> None:
    """Write the weights of a :mod:`tunelab.torch` estimator; record its spec in the card.

    Raises:
        ArtifactError: ``model`` is not a fitted tunelab.torch estimator or network.
    """
    estimator = _as_estimator(model, ArtifactError)
    save_file = _import("safetensors.torch").save_file
    state = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in estimator.module_.state_dict().items()
    }
    save_file(state, str(file))
    card.model["architecture"] = estimator.spec_.to_dict()
    card.model["estimator_params"] = to_jsonable(_params(estimator), "estimator parameters")


def load_torch_model(file: Path, card: ModelCard) -> Any:
    """Rebuild the module from the card's spec and load the safetensors weights.

    Returns:
        A fitted ``TorchClassifier`` or ``TorchRegressor``; its ``module_`` is the
        network, on the CPU in evaluation mode.

    Raises:
        ArtifactError: The spec is invalid, or the weights do not fit it (naming the
            tensors).
        ImportError: PyTorch or safetensors is not installed.
    """
    api = _import("tunelab.torch")
    estimators = _import("tunelab.torch._estimator")
    load_file = _import("safetensors.torch").load_file
    try:
        spec = api.MLPSpec.from_dict(card.model.get("architecture"))
    except ValueError as exc:
        raise ArtifactError(f"{CARD_FILE}: model.architecture is invalid: {exc}") from None
    try:
        state = load_file(str(file), device="cpu")
    except Exception as exc:
        raise ArtifactError(f"{file.name} is not a readable safetensors file: {exc}") from exc
    module = api.build_mlp(spec)
    _check_weights(module.state_dict(), state, file.name)
    module.load_state_dict(state)
    module.eval()
    try:
        return estimators.estimator_from_module(
            module, classes=card.model.get("classes"), params=card.model.get("estimator_params")
        )
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{CARD_FILE}: cannot rebuild the estimator: {exc}") from None


def torch_to_onnx(
    model: Any,
    sample: Any,
    *,
    rtol: float,
    atol: float,
    quantize: bool,
    y: Any,
    latency_repeats: int,
) -> _onnx.OnnxConversion:
    """Export a tunelab.torch model to ONNX and check it against PyTorch on ``sample``.

    See :func:`tunelab.deploy.to_onnx` for the arguments.

    Raises:
        ConversionError: The module cannot be exported, or ONNX Runtime's outputs
            differ from PyTorch's beyond tolerance (the message says by how much).
    """
    estimator = _as_estimator(model, ConversionError)
    task = estimator.spec_.task
    matrix = _sample_matrix(sample, estimator.spec_.n_inputs)
    model_bytes = _export(estimator)
    runner = _onnx.OnnxRunner(model_bytes, task=task, input_mode="matrix")
    max_diff = _onnx.check_parity(
        estimator, runner, matrix, task, rtol=rtol, atol=atol, source="PyTorch"
    )
    report = None
    runners: dict[str, Callable[[Any], Any]] = {"onnxruntime": runner.run}
    if quantize:
        report = _onnx.quantize_graph(estimator, model_bytes, matrix, y, task, "matrix")
        if report.reference == "sklearn":
            report = dataclasses.replace(report, reference="torch")
        int8 = _onnx.OnnxRunner(report.model_bytes, task=task, input_mode="matrix")
        runners["onnxruntime-int8"] = int8.run
    latency = []
    if latency_repeats:
        latency = _onnx.latency_table(estimator, runners, matrix, latency_repeats)
        for row in latency:
            row["backend"] = "torch" if row["backend"] == "sklearn" else row["backend"]
    return _onnx.OnnxConversion(
        model_bytes=model_bytes,
        task=task,
        input_mode="matrix",
        max_abs_diff=max_diff,
        rtol=rtol,
        atol=atol,
        n_rows=matrix.shape[0],
        latency=latency,
        quantization=report,
        libraries=library_versions(("torch", "onnx", "onnxruntime")),
    )


def _as_estimator(model: Any, error: type[Exception]) -> Any:
    api = _import("tunelab.torch")
    estimators = _import("tunelab.torch._estimator")
    if isinstance(model, api.TorchEstimator):
        if not hasattr(model, "module_"):
            raise error(f"{type(model).__name__} is not fitted; call fit() before saving")
        _check_built_by_spec(model.module_, error)
        return model
    if isinstance(model, api.MLP):
        _check_built_by_spec(model, error)
        return estimators.estimator_from_module(model)
    raise error(f"{type(model).__name__} was not built by tunelab.torch. {_FOREIGN_ADVICE}")


def _check_built_by_spec(module: Any, error: type[Exception]) -> None:
    """Refuse a module whose code or layers differ from what its spec rebuilds."""
    torch = _import("torch")
    api = _import("tunelab.torch")
    if type(module) is not api.MLP:
        raise error(
            f"{type(module).__name__} subclasses MLP; its code cannot be rebuilt from the "
            f"spec. {_FOREIGN_ADVICE}"
        )
    with torch.device("meta"):
        reference = api.MLP(module.spec)
    expected = {name: tuple(t.shape) for name, t in reference.state_dict().items()}
    actual = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    if repr(reference) != repr(module) or expected != actual:
        raise error(
            "the module's layers no longer match its spec (changed after build_mlp); "
            f"rebuild it from a spec that describes it. {_FOREIGN_ADVICE}"
        )


def _check_weights(expected_state: dict[str, Any], state: dict[str, Any], file_name: str) -> None:
    missing = sorted(expected_state.keys() - state.keys())
    unexpected = sorted(state.keys() - expected_state.keys())
    misshapen = [
        f"{name} {tuple(state[name].shape)} (spec: {tuple(expected_state[name].shape)})"
        for name in sorted(expected_state.keys() & state.keys())
        if state[name].shape != expected_state[name].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if misshapen:
        problems.append(f"wrong shapes: {', '.join(misshapen)}")
    if problems:
        raise ArtifactError(
            f"{file_name} does not fit model.architecture in {CARD_FILE}: " + "; ".join(problems)
        )


def _params(estimator: Any) -> dict[str, Any]:
    params = estimator.get_params()
    if params.get("device") is not None:
        params["device"] = str(params["device"])
    return params


def _sample_matrix(sample: Any, n_inputs: int) -> np.ndarray:
    try:
        matrix = np.asarray(sample.to_numpy() if is_dataframe(sample) else sample, np.float32)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"sample must be numeric for a PyTorch model: {exc}") from None
    if matrix.ndim != 2 or matrix.shape[1] != n_inputs or matrix.shape[0] == 0:
        raise ConversionError(
            f"sample must be a non-empty (rows, {n_inputs}) matrix, got shape {matrix.shape}"
        )
    return matrix


def _export(estimator: Any) -> bytes:
    export_onnx = _import("tunelab.torch._export").export_onnx
    try:
        return bytes(export_onnx(estimator.module_, getattr(estimator, "classes_", None)))
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    except Exception as exc:
        raise ConversionError(f"torch.onnx.export failed: {_onnx.first_line(exc)}") from exc


def _import(module: str) -> Any:
    return optional_import(module, extra="torch", purpose="PyTorch models")
