"""Open Inference Protocol (v2) messages, datatypes and tensor encoding.

Request and response bodies are pydantic models, so the OpenAPI schema documents
them exactly. Tensors travel as row-major JSON arrays or, with the binary tensor data
extension Triton's clients use by default, as raw little-endian bytes after the JSON
header (``Inference-Header-Content-Length`` gives the header's length).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from tunelab._validation import is_int

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
# numpy kinds each datatype accepts from JSON values (ints widen to floats, never back).
_JSON_KINDS = {"BOOL": "b", "BYTES": "U", "FP16": "iuf", "FP32": "iuf", "FP64": "iuf"}
_TEXT_DTYPES = frozenset({"str", "object", "string", "category"})
HEADER_LENGTH = "inference-header-content-length"
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | None


class RequestError(Exception):
    """A request the server refuses; the message names the offending field.

    Args:
        message: What is wrong, starting with the field (``inputs[0].shape: ...``).
        status: HTTP status: 400 for a bad request, 401 without the API key, 404 for
            an unknown model, 405 for a wrong method, 413 for a body or batch over
            the limits.
        headers: Extra response headers (``WWW-Authenticate``, ``Allow``).
    """

    def __init__(
        self, message: str, *, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


class ErrorResponse(BaseModel):
    """Every error answer: one message naming the field and what was expected."""

    error: str


class ServerMetadata(BaseModel):
    """``GET /v2``: who is serving and which protocol extensions it supports."""

    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    """One input or output of a model: ``-1`` in a shape means any length."""

    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    """``GET /v2/models/{name}``: the model's version, backend and tensors."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] = Field(default_factory=dict)


class RequestInput(BaseModel):
    """One input tensor: ``data`` row-major, flat or nested, unless sent as binary."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1)]
    shape: list[Annotated[StrictInt, Field(ge=0)]]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    """An output the client wants; ``parameters.binary_data`` asks for raw bytes."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1)]
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}/infer``: inputs and, optionally, which outputs to return."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: Annotated[list[RequestInput], Field(min_length=1)]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor of an inference answer."""

    name: str
    datatype: Datatype
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class InferenceResponse(BaseModel):
    """The answer to an inference request."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class PredictRequest(BaseModel):
    """``POST /predict``: rows as ``records`` or as ``columns`` plus ``data``."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Scalar]] | None = Field(
        default=None, description="One object per row, column name to value."
    )
    columns: list[StrictStr] | None = Field(
        default=None, description="Column names of the rows in data."
    )
    data: list[list[Scalar]] | None = Field(
        default=None, description="Rows of values in the order of columns."
    )

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.records is None) == (self.data is None):
            raise ValueError("send either 'records' or 'data' (with 'columns'), not both")
        if self.records is not None and self.columns is not None:
            raise ValueError("'columns' goes with 'data', not with 'records'")
        return self


class PredictResponse(BaseModel):
    """Predictions, and for classifiers the class labels and their probabilities."""

    model_name: str
    model_version: str
    predictions: list[Any]
    classes: list[Any] | None = None
    probabilities: list[list[float | None]] | None = None


def datatype_of(dtype_name: str) -> str:
    """The OIP datatype for a signature dtype name (``float64`` -> ``FP64``).

    Text, categorical and any other non-numeric dtype travel as ``BYTES``.
    """
    if dtype_name in _TEXT_DTYPES:
        return "BYTES"
    try:
        dtype = np.dtype(dtype_name.lower())
    except TypeError:
        return "BYTES"
    for datatype, numpy_type in NUMPY_TYPES.items():
        if datatype != "BYTES" and dtype == np.dtype(numpy_type):
            return datatype
    return "BYTES"


def validation_message(error: ValidationError) -> str:
    """A pydantic error as ``field: problem`` lines joined by ``; `` (three at most)."""
    parts = []
    for item in error.errors()[:3]:
        field = _field_path(item["loc"]) or "body"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def _field_path(location: tuple[Any, ...]) -> str:
    parts = list(location)
    # pydantic appends the union member it tried (``str``, ``list[...]``) to the location.
    if parts and isinstance(parts[-1], str) and _is_union_tag(parts[-1]):
        parts.pop()
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_union_tag(part: str) -> bool:
    return part in ("bool", "int", "float", "str", "none") or part.startswith(("list[", "dict["))


def parse_infer_request(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """Split a JSON or binary-extension body into the request and its binary section.

    Raises:
        RequestError: Malformed JSON, a field that breaks the schema (named), or a
            bad ``Inference-Header-Content-Length``.
    """
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise RequestError(
                f"Inference-Header-Content-Length: expected the JSON header's length in "
                f"bytes (0..{len(body)}), got {header_length!r}"
            )
        split = int(header_length)
        body, binary = body[:split], body[split:]
    try:
        return InferenceRequest.model_validate_json(body), binary
    except ValidationError as exc:
        raise RequestError(validation_message(exc)) from None


def parse_predict_request(body: bytes) -> PredictRequest:
    """Parse a ``/predict`` body.

    Raises:
        RequestError: Malformed JSON or a field that breaks the schema (named).
    """
    try:
        return PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestError(validation_message(exc)) from None


def decode_inputs(
    request: InferenceRequest, binary: bytes, *, json_body: bytes
) -> list[np.ndarray]:
    """Every input tensor as a NumPy array of its declared shape and datatype.

    ``json_body`` is the request's JSON text: when it holds no ``true`` or ``false``,
    numeric data cannot hide booleans and the per-value check is skipped.

    Raises:
        RequestError: Data that does not fill the shape, values of the wrong type,
            or binary sizes that do not add up; the message names the input.
    """
    arrays = []
    offset = 0
    may_hold_bools = b"true" in json_body or b"false" in json_body
    for index, tensor in enumerate(request.inputs):
        field = f"inputs[{index}]"
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is not None:
            if not is_int(size) or size < 0:
                raise RequestError(
                    f"{field}.parameters.binary_data_size: expected a count of bytes, got {size!r}"
                )
            if offset + size > len(binary):
                raise RequestError(
                    f"{field}.parameters.binary_data_size: {size} bytes requested but only "
                    f"{len(binary) - offset} remain in the binary section"
                )
            flat = _from_binary(binary[offset : offset + size], tensor.datatype, field)
            offset += size
        elif tensor.data is not None:
            flat = _from_json(tensor.data, tensor.datatype, tensor.shape, field, may_hold_bools)
        else:
            raise RequestError(f"{field}.data: required (or binary_data_size for binary data)")
        arrays.append(_reshape(flat, tensor.shape, field))
    if offset != len(binary):
        raise RequestError(
            f"binary section: {len(binary) - offset} bytes are not claimed by any input's "
            "binary_data_size"
        )
    return arrays


def _from_json(
    data: list[Any], datatype: str, shape: list[int], field: str, may_hold_bools: bool
) -> np.ndarray:
    try:
        array = np.array(data)
    except (ValueError, TypeError, OverflowError):
        array = np.array(None)
    if array.dtype.kind == "O":
        raise RequestError(
            f"{field}.data: expected a flat or rectangular nested array of {datatype} values"
        )
    if array.ndim > 1 and list(array.shape) != shape:
        raise RequestError(
            f"{field}.data: nested as {list(array.shape)}, but the shape is {shape}; "
            "send the shape's nesting or a flat array"
        )
    if array.size == 0:
        return np.empty(0, dtype=NUMPY_TYPES[datatype])
    accepted = _JSON_KINDS.get(datatype, "iu")
    if array.dtype.kind not in accepted or (
        datatype != "BOOL" and may_hold_bools and _holds_bool(data)
    ):
        raise RequestError(f"{field}.data: {datatype} needs {_describe(datatype)} values")
    if datatype == "BYTES":
        return array.astype(object).ravel()
    target = np.dtype(NUMPY_TYPES[datatype])
    converted = array.astype(target).ravel()
    if target.kind in "iu" and not np.array_equal(converted, array.ravel()):
        raise RequestError(f"{field}.data: a value is out of the range of {datatype}")
    return converted


def _holds_bool(data: list[Any]) -> bool:
    """True when a (nested) list holds a bool: NumPy would silently turn it into 0 or 1."""
    for item in data:
        if item is True or item is False or (isinstance(item, list) and _holds_bool(item)):
            return True
    return False


def _describe(datatype: str) -> str:
    if datatype == "BOOL":
        return "true/false"
    if datatype == "BYTES":
        return "string"
    return "numeric" if datatype.startswith("FP") else "integer"


def _from_binary(chunk: bytes, datatype: str, field: str) -> np.ndarray:
    if datatype == "BYTES":
        return _split_bytes(chunk, field)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise RequestError(
            f"{field}.parameters.binary_data_size: {len(chunk)} bytes is not a whole number "
            f"of {datatype} values ({dtype.itemsize} bytes each)"
        )
    return np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="))


def _split_bytes(chunk: bytes, field: str) -> np.ndarray:
    """Decode the BYTES wire form: each element is a 4-byte little-endian length, then bytes."""
    items = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise RequestError(f"{field}: truncated BYTES element length at byte {offset}")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise RequestError(f"{field}: BYTES element at byte {offset} runs past the data")
        raw = chunk[offset : offset + length]
        offset += length
        try:
            items.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"{field}: BYTES elements must be UTF-8 text") from None
    return np.array(items, dtype=object)


def _reshape(flat: np.ndarray, shape: list[int], field: str) -> np.ndarray:
    expected = math.prod(shape)
    if flat.size != expected:
        raise RequestError(
            f"{field}.shape: {shape} holds {expected} values but data has {flat.size}"
        )
    return flat.reshape(shape)


def wants_binary(request: InferenceRequest, name: str) -> bool:
    """True when the client asked for output ``name`` as raw bytes."""
    for output in request.outputs or ():
        if output.name == name:
            return (output.parameters or {}).get("binary_data") is True
    return (request.parameters or {}).get("binary_data_output") is True


def json_values(array: np.ndarray) -> list[Any]:
    """Row-major flat JSON values; NaN and infinities become null (JSON has neither)."""
    flat = array.ravel()
    if flat.dtype.kind in "OUS":
        return [str(item) for item in flat]
    values: list[Any] = flat.tolist()
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return [value if math.isfinite(value) else None for value in values]
    return values


def to_binary(array: np.ndarray, datatype: str) -> bytes:
    """The binary tensor data form of ``array`` (little-endian; BYTES length-prefixed)."""
    if datatype == "BYTES":
        parts = []
        for item in array.ravel():
            encoded = str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)) + encoded)
        return b"".join(parts)
    dtype = np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def encode_json(payload: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
