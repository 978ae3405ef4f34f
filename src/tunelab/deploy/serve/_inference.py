"""Served models: their OIP description, turning tensors into model input, and scoring."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.deploy._artifact import LoadedModel
from tunelab.deploy._errors import SignatureError
from tunelab.deploy._signature import Signature
from tunelab.deploy.serve._protocol import (
    NUMPY_TYPES,
    PredictRequest,
    RequestError,
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
    if prediction is not None:
        datatype = datatype_of(prediction.dtype)
        shape = [-1 if size is None else size for size in (prediction.shape or (None,))]
    else:
        kind = np.asarray(classes).dtype.kind if classes else "f"
        datatype = {"i": "INT64", "b": "BOOL", "f": "FP64"}.get(kind, "BYTES")
        shape = [-1]
    outputs = [TensorMetadata(name=PREDICT, datatype=datatype, shape=shape)]  # type: ignore[arg-type]
    probabilities = declared.get("probabilities")
    if probabilities is not None or (not declared and hasattr(model.model, "predict_proba")):
        width = len(classes) if classes else -1
        outputs.append(TensorMetadata(name=PREDICT_PROBA, datatype="FP64", shape=[-1, width]))
    return tuple(outputs)


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


def model_input(served: ServedModel, names: list[str], arrays: list[np.ndarray]) -> Any:
    """Turn decoded OIP tensors into what the model takes: a 2-D array, or column arrays
    by name (no DataFrame: :class:`LoadedModel` builds one only when its backend needs it).

    Accepted: one tensor per signature column (shape ``[n]`` or ``[n, 1]``), or a single
    2-D tensor with one column per signature input, in signature order.

    Raises:
        RequestError: Unknown, duplicated or missing inputs, or shapes that disagree.
    """
    signature = served.signature
    if signature.is_tensor:
        expected = signature.inputs[0].name
        if len(names) != 1 or names[0] != expected:
            raise RequestError(
                f"inputs: this model takes one input named {expected!r}, got {names}"
            )
        return arrays[0]
    columns = signature.column_names
    if len(arrays) == 1 and arrays[0].ndim == 2 and names[0] not in columns:
        return _split_matrix(arrays[0], columns)
    values: dict[str, np.ndarray] = {}
    rows: int | None = None
    for index, (name, array) in enumerate(zip(names, arrays, strict=True)):
        field = f"inputs[{index}]"
        if name not in columns:
            raise RequestError(f"{field}.name: unknown input {name!r}; the model expects {columns}")
        if name in values:
            raise RequestError(f"{field}.name: input {name!r} is given twice")
        if array.ndim == 2 and array.shape[1] != 1:
            raise RequestError(
                f"{field}.shape: a column input must have shape [n] or [n, 1], "
                f"got {list(array.shape)}"
            )
        if rows is not None and array.shape[0] != rows:
            raise RequestError(
                f"{field}.shape: {array.shape[0]} rows, but the inputs before it have {rows}"
            )
        rows = array.shape[0]
        values[name] = array.reshape(-1)
    missing = [name for name in columns if name not in values]
    if missing:
        raise RequestError(f"inputs: missing input(s) {missing}; the model expects {columns}")
    return {name: values[name] for name in columns}


def _split_matrix(matrix: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    if matrix.shape[1] != len(columns):
        raise RequestError(
            f"inputs[0].shape: a 2-D input needs one column per model input "
            f"({len(columns)}: {columns}), got shape {list(matrix.shape)}"
        )
    return dict(zip(columns, matrix.T, strict=True))


def records_input(served: ServedModel, request: PredictRequest) -> Any:
    """Turn a ``/predict`` body into model input: column values by name, or a 2-D array.

    Raises:
        RequestError: A record or row lacks a column the model needs, a row has the
            wrong length, or a tensor model gets named records.
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
        return {name: [record[name] for record in request.records] for name in columns}
    assert request.data is not None
    return _rows_input(served, request.columns, request.data)


def _rows_input(served: ServedModel, given: list[str] | None, data: list[list[Any]]) -> Any:
    signature = served.signature
    if signature.is_tensor:
        try:
            return np.array(data)
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
    return {name: [row[position[name]] for row in data] for name in columns}


def score(served: ServedModel, X: Any, wanted: Sequence[str]) -> dict[str, np.ndarray]:
    """Run the model for each wanted output, cast to the datatype its metadata declares.

    Raises:
        RequestError: The input does not fit the signature (the field is named) or the
            model refuses it (e.g. infinite values).
    """
    declared = {output.name: output for output in served.outputs}
    try:
        raw = served.model.predict_outputs(X, list(wanted))
    except SignatureError as exc:
        raise RequestError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise RequestError(f"inputs: the model rejected the input: {exc}") from None
    return {name: _cast(np.asarray(raw[name]), declared[name].datatype) for name in wanted}


def _cast(array: np.ndarray, datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return array.astype(str).astype(object)
    try:
        return array.astype(NUMPY_TYPES[datatype])
    except (ValueError, TypeError):
        return array
