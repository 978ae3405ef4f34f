"""Served models: their OIP description, turning tensors into model input, and scoring."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.deploy._artifact import LoadedModel
from tunelab.deploy._errors import SignatureError
from tunelab.deploy._signature import Signature
from tunelab.deploy.serve._metrics import ModelMetrics
from tunelab.deploy.serve._protocol import (
    NUMPY_TYPES,
    InferenceRequest,
    PredictRequest,
    RequestError,
    RequestInput,
    TensorMetadata,
    datatype_of,
)

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


@dataclass(frozen=True)
class ServedModel:
    """One model as the server exposes it.

    Attributes:
        name: The name clients use in URLs.
        version: The version clients see (the registry version, or "1").
        model: The loaded model.
        ref: The registry reference it was loaded from (``name@alias`` can move).
        inputs: OIP description of the inputs, from the signature.
        outputs: OIP description of ``predict`` (and ``predict_proba``).
    """

    name: str
    version: str
    model: LoadedModel
    ref: str | None
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]

    @property
    def signature(self) -> Signature:
        """The model's signature (always present: :func:`describe` requires it)."""
        assert self.model.signature is not None
        return self.model.signature

    @property
    def classes(self) -> list[Any] | None:
        """Class labels of a classifier, as recorded in the model card."""
        classes = self.model.card.model.get("classes")
        return list(classes) if classes is not None else None

    @functools.cached_property
    def matrix_datatype(self) -> str | None:
        """Datatype of the one 2-D tensor a columnar model also takes, or None.

        A model whose columns all share one numeric datatype accepts, besides one
        tensor per column, a single ``[n, n_columns]`` tensor of that datatype (any
        name that is not a column's), its columns in signature order. Metadata
        announces it as the ``matrix_input`` parameter.
        """
        if self.signature.is_tensor:
            return None
        datatypes = {item.datatype for item in self.inputs}
        only = next(iter(datatypes))
        return only if len(datatypes) == 1 and only not in ("BYTES", "BOOL") else None

    @functools.cached_property
    def inputs_by_name(self) -> dict[str, TensorMetadata]:
        """The input tensors' metadata by name."""
        return {item.name: item for item in self.inputs}

    @functools.cached_property
    def matrix_input(self) -> TensorMetadata | None:
        """Metadata of the one-tensor form (see :attr:`matrix_datatype`), or None."""
        if self.matrix_datatype is None:
            return None
        shape = [-1, len(self.inputs)]
        return TensorMetadata(name="matrix", datatype=self.matrix_datatype, shape=shape)  # type: ignore[arg-type]

    @property
    def platform(self) -> str:
        """``tunelab_<backend>``: which runtime answers requests."""
        return f"tunelab_{self.model.backend.replace('-', '_')}"


def describe(name: str, version: str, model: LoadedModel, ref: str | None) -> ServedModel:
    """Wrap ``model`` for serving.

    Raises:
        ValueError: The model has no signature, so its inputs cannot be described
            or checked.
    """
    signature = model.signature
    if signature is None:
        raise ValueError(
            f"model {name!r} has no signature; save it with sample= or data= so the "
            "server can describe and check its inputs"
        )
    inputs = tuple(
        TensorMetadata(
            name=field.name,
            datatype=datatype_of(field.dtype),  # type: ignore[arg-type]
            shape=[-1 if size is None else size for size in (field.shape or (None,))],
        )
        for field in signature.inputs
    )
    return ServedModel(name, version, model, ref, inputs, _outputs(model, signature))


def _outputs(model: LoadedModel, signature: Signature) -> tuple[TensorMetadata, ...]:
    declared = {field.name: field for field in signature.outputs}
    prediction = declared.get("prediction")
    classes = model.card.model.get("classes")
    computed = model.runner.output_dtypes if model.runner is not None else []
    if prediction is not None:
        datatype = _computed(datatype_of(prediction.dtype), computed[:1])
        shape = [-1 if size is None else size for size in (prediction.shape or (None,))]
    else:
        kind = np.asarray(classes).dtype.kind if classes else "f"
        datatype = _computed({"i": "INT64", "b": "BOOL", "f": "FP64"}.get(kind, "BYTES"), [])
        shape = [-1]
    outputs = [TensorMetadata(name=PREDICT, datatype=datatype, shape=shape)]  # type: ignore[arg-type]
    probabilities = declared.get("probabilities")
    if probabilities is not None or (not declared and hasattr(model.model, "predict_proba")):
        width = len(classes) if classes else -1
        datatype = _computed("FP64", computed[1:2])
        outputs.append(TensorMetadata(name=PREDICT_PROBA, datatype=datatype, shape=[-1, width]))  # type: ignore[arg-type]
    return tuple(outputs)


def _computed(declared: str, backend: list[np.dtype[Any]]) -> str:
    """The datatype an output really has: an ONNX graph computes floats in float32,
    and announcing FP64 for them would claim precision the values do not carry."""
    if backend and backend[0].kind == "f" and declared.startswith("FP"):
        return datatype_of(backend[0].name)
    return declared


class ModelSet:
    """The served models by name; a reload replaces one entry in a single assignment.

    Request handlers take the current :class:`ServedModel` once and use it to the end,
    so a swap never mixes two versions within a request and never drops one.
    """

    def __init__(self, models: Sequence[ServedModel]) -> None:
        self._models = {served.name: served for served in models}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Served model names, in the order given."""
        return list(self._models)

    def all(self) -> list[ServedModel]:
        """The current version of every served model."""
        return list(self._models.values())

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model served as ``name`` (and ``version``, when given).

        Raises:
            RequestError: 404 naming the served models or the loaded version.
        """
        served = self._models.get(name)
        if served is None:
            raise RequestError(f"model {name!r} is not served (models: {self.names()})", status=404)
        if version is not None and version != served.version:
            raise RequestError(
                f"model {name!r} version {version!r} is not loaded (loaded: {served.version!r})",
                status=404,
            )
        return served

    def replace(self, served: ServedModel) -> ServedModel:
        """Serve ``served`` in place of the model of the same name; returns the old one."""
        with self._lock:
            old = self._models[served.name]
            self._models[served.name] = served
        return old


def check_tensors(served: ServedModel, request: InferenceRequest) -> None:
    """Hold the request's input tensors to the model's metadata, before any data is read.

    Every input the metadata lists must come once, with exactly its datatype, as many
    dimensions as its shape and the same size wherever the shape is not ``-1``. The
    only other form is the ``matrix_input`` one (see :attr:`ServedModel.matrix_datatype`).

    Raises:
        RequestError: Naming the tensor and what its metadata says.
    """
    declared = served.inputs_by_name
    tensors = request.inputs
    matrix = served.matrix_input
    if len(tensors) == 1 and tensors[0].name not in declared and matrix is not None:
        _check_tensor(tensors[0], matrix, "inputs[0]", tensors[0].name)
        return
    seen: set[str] = set()
    for index, tensor in enumerate(tensors):
        field = f"inputs[{index}]"
        metadata = declared.get(tensor.name)
        if metadata is None:
            raise RequestError(
                f"{field}.name: unknown input {tensor.name!r}; the model expects {list(declared)}"
            )
        if tensor.name in seen:
            raise RequestError(f"{field}.name: input {tensor.name!r} is given twice")
        seen.add(tensor.name)
        _check_tensor(tensor, metadata, field)
    missing = [name for name in declared if name not in seen]
    if missing:
        raise RequestError(
            f"inputs: missing input(s) {missing}; the model expects {list(declared)}"
        )
    rows = tensors[0].shape[0]
    for index, tensor in enumerate(tensors):
        if tensor.shape[0] != rows:
            raise RequestError(
                f"inputs[{index}].shape: {tensor.shape[0]} rows, but inputs[0] has {rows}"
            )


def _check_tensor(
    tensor: RequestInput, metadata: TensorMetadata, field: str, name: str | None = None
) -> None:
    name = metadata.name if name is None else name
    if tensor.datatype != metadata.datatype:
        raise RequestError(
            f"{field}.datatype: input {name!r} is {metadata.datatype}, got {tensor.datatype}"
        )
    fits = len(tensor.shape) == len(metadata.shape) and all(
        want in (-1, got) for want, got in zip(metadata.shape, tensor.shape, strict=True)
    )
    if not fits:
        raise RequestError(
            f"{field}.shape: input {name!r} has shape {metadata.shape} "
            f"(-1: any size), got {tensor.shape}"
        )


def model_input(served: ServedModel, names: list[str], arrays: list[np.ndarray]) -> Any:
    """Turn tensors checked by :func:`check_tensors` into what the model takes: a 2-D
    array, or column arrays by name (no DataFrame: :class:`LoadedModel` builds one
    only when its backend needs it)."""
    signature = served.signature
    if signature.is_tensor:
        return arrays[0]
    columns = signature.column_names
    if len(arrays) == 1 and names[0] not in columns:
        return dict(zip(columns, arrays[0].T, strict=True))
    given = dict(zip(names, arrays, strict=True))
    return {name: given[name] for name in columns}


def records_input(served: ServedModel, request: PredictRequest) -> Any:
    """Turn a ``/predict`` body into model input: column values by name, or a 2-D array.

    Values are held to their column's datatype as JSON types: numbers (or null, a
    missing value) for floating-point columns, whole numbers for integer ones, true or
    false for booleans and strings for text.

    Raises:
        RequestError: A record or row lacks a column the model needs, a row has the
            wrong length, a value has the wrong JSON type, or a tensor model gets
            named records.
    """
    signature = served.signature
    if request.records is not None:
        if signature.is_tensor:
            raise RequestError(
                f"records: this model takes one unnamed {signature.inputs[0].name!r} array; "
                'send {"data": [[...], ...]} instead'
            )
        columns = signature.column_names
        for index, record in enumerate(request.records):
            missing = [name for name in columns if name not in record]
            if missing:
                raise RequestError(f"records[{index}]: missing column(s) {missing}")
        values = {name: [record[name] for record in request.records] for name in columns}
        for metadata in served.inputs:
            _check_json_types(values[metadata.name], metadata, "records[{}]." + metadata.name)
        return values
    assert request.data is not None
    return _rows_input(served, request.columns, request.data)


def _rows_input(served: ServedModel, given: list[str] | None, data: list[list[Any]]) -> Any:
    signature = served.signature
    if signature.is_tensor:
        width = served.inputs[0].shape[1]
        for index, row in enumerate(data):
            if width != -1 and len(row) != width:
                raise RequestError(f"data[{index}]: {len(row)} values, the model takes {width}")
            _check_json_types(row, served.inputs[0], f"data[{index}][{{}}]")
        try:
            return np.array(data, dtype=NUMPY_TYPES[served.inputs[0].datatype])
        except ValueError:
            raise RequestError("data: rows must all have the same length") from None
    columns = signature.column_names
    given = columns if given is None else given
    if len(set(given)) != len(given):
        raise RequestError(f"columns: names must be unique, got {given}")
    missing = [name for name in columns if name not in given]
    if missing:
        raise RequestError(f"columns: missing column(s) {missing}; the model expects {columns}")
    for index, row in enumerate(data):
        if len(row) != len(given):
            raise RequestError(f"data[{index}]: {len(row)} values for {len(given)} columns")
    position = {name: j for j, name in enumerate(given)}
    values = {name: [row[position[name]] for row in data] for name in columns}
    for metadata in served.inputs:
        where = "data[{}][" + str(position[metadata.name]) + "]"
        _check_json_types(values[metadata.name], metadata, where)
    return values


# The JSON values each datatype takes, by exact Python type (a bool is not a number here).
_FLOAT_TYPES: frozenset[type] = frozenset({int, float, type(None)})
_INT_TYPES: frozenset[type] = frozenset({int})
_JSON_TYPES: dict[str, frozenset[type]] = {
    "BOOL": frozenset({bool}),
    "BYTES": frozenset({str}),
    "FP16": _FLOAT_TYPES,
    "FP32": _FLOAT_TYPES,
    "FP64": _FLOAT_TYPES,
}
_JSON_WORDS = {"BOOL": "true or false", "BYTES": "a string"}


def _check_json_types(values: list[Any], metadata: TensorMetadata, where: str) -> None:
    allowed = _JSON_TYPES.get(metadata.datatype, _INT_TYPES)
    if allowed.issuperset(map(type, values)):
        return  # the usual case, checked without a Python-level loop
    for index, value in enumerate(values):
        if type(value) not in allowed:
            if metadata.datatype.startswith("FP"):
                wanted = "a number (or null)"
            else:
                wanted = _JSON_WORDS.get(metadata.datatype, "a whole number")
            raise RequestError(
                f"{where.format(index)}: input {metadata.name!r} is {metadata.datatype}: "
                f"expected {wanted}, got {json.dumps(value)}"
            )


def score(
    served: ServedModel, X: Any, wanted: Sequence[str], recorder: ModelMetrics
) -> dict[str, np.ndarray]:
    """Run the model for each wanted output, cast to the datatype its metadata declares.

    The model call alone (after validation, before casting) is timed into ``recorder``,
    so the served latency compares with what :func:`tunelab.deploy.measure` times.

    Raises:
        RequestError: The input does not fit the signature (the field is named) or the
            model refuses it (an unseen category, infinite values), on any backend.
    """
    declared = {output.name: output for output in served.outputs}
    model = served.model
    try:
        prepared = model.prepare(X)
        start = time.perf_counter()
        raw = model.predict_outputs(prepared, list(wanted), prepared=True)
        recorder.record(time.perf_counter() - start)
    except SignatureError as exc:
        raise RequestError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise RequestError(f"inputs: the model rejected the input: {exc}") from None
    except Exception as exc:
        reason = _runtime_refusal(exc)
        if reason is None:
            raise
        raise RequestError(f"inputs: the model rejected the input: {reason}") from None
    return {name: _cast(np.asarray(raw[name]), declared[name].datatype) for name in wanted}


# ONNX Runtime's errors for a graph that cannot compute on the values it was given
# (an unseen category, a value out of a lookup's range); its other errors (a broken
# session, no memory) stay server errors.
_RUNTIME_REFUSALS = frozenset({"Fail", "InvalidArgument"})
_ORT_MESSAGE = re.compile(r"running (\w+) node.*?Status Message: (.*)", re.DOTALL)


def _runtime_refusal(exc: Exception) -> str | None:
    """The reason, when ``exc`` is a runtime's refusal of the request's values."""
    kind = type(exc)
    if not kind.__module__.startswith("onnxruntime") or kind.__name__ not in _RUNTIME_REFUSALS:
        return None
    text = str(exc).strip()
    match = _ORT_MESSAGE.search(text)
    if match:
        return f"{match.group(1)}: {match.group(2).strip()}"
    return text.rsplit(" : ", 1)[-1]


def _cast(array: np.ndarray, datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return array.astype(str).astype(object)
    try:
        return array.astype(NUMPY_TYPES[datatype])
    except (ValueError, TypeError):
        return array
