"""The protocol-neutral data plane: decode → validate → run → encode.

Every operation takes plain values (names, body bytes) and gives an :class:`Answer`
(status, body, content type); refusals are :class:`RequestError`. Nothing here knows
about HTTP connections, authentication or limits other than the batch size: the
request path (:mod:`tunelab.deploy.serve._app`) owns those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunelab.deploy.serve._inference import (
    PREDICT_PROBA,
    ModelSet,
    ServedModel,
    check_tensors,
    model_input,
    records_input,
    score,
)
from tunelab.deploy.serve._metrics import Metrics
from tunelab.deploy.serve._protocol import (
    InferenceRequest,
    ModelMetadata,
    RequestError,
    ServerMetadata,
    decode_inputs,
    encode_json,
    json_values,
    parse_infer_request,
    parse_predict_request,
    to_binary,
    wants_binary,
)

JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    """What an operation answers: a status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


EMPTY_OK = Answer(200, b"", "text/plain")


class DataPlane:
    """The server's operations on its models, independent of any transport.

    Args:
        models: The served models.
        metrics: Where scored rows and model-call times are recorded.
        version: The server's version, reported by :meth:`server_metadata`.
        max_batch_rows: Requests with more rows get 413.
    """

    def __init__(
        self, models: ModelSet, metrics: Metrics, *, version: str, max_batch_rows: int
    ) -> None:
        self.models = models
        self.metrics = metrics
        self.version = version
        self.max_batch_rows = max_batch_rows

    def model(self, name: str | None, version: str | None = None) -> ServedModel:
        """The served model ``name``; None picks the only one (``/predict``).

        Raises:
            RequestError: 404 for a model or version not served, 400 for no name
                when several models are served.
        """
        if name is None:
            names = self.models.names()
            if len(names) != 1:
                raise RequestError(f"model: required when several models are served ({names})")
            name = names[0]
        return self.models.get(name, version)

    def server_metadata(self) -> Answer:
        """Server name, version and protocol extensions."""
        metadata = ServerMetadata(
            name="tunelab", version=self.version, extensions=["binary_tensor_data"]
        )
        return Answer(200, metadata.model_dump_json().encode("utf-8"))

    def ready(self) -> Answer:
        """200 once every model is loaded (before the server listens); else 503."""
        return EMPTY_OK if self.models.names() else Answer(503, b"", "text/plain")

    def model_metadata(self, served: ServedModel) -> Answer:
        """The model's version, backend and tensors (OIP datatypes)."""
        parameters: dict[str, Any] = {"backend": served.model.backend, "ref": served.ref}
        if served.matrix_datatype is not None:
            shape = [-1, len(served.inputs)]
            parameters["matrix_input"] = {"datatype": served.matrix_datatype, "shape": shape}
        if served.model.card.explanation is not None:
            parameters["explanation"] = served.model.card.explanation
        if served.model.card.deployment is not None:
            parameters["deployment"] = served.model.card.deployment
        metadata = ModelMetadata(
            name=served.name,
            versions=[served.version],
            platform=served.platform,
            inputs=list(served.inputs),
            outputs=list(served.outputs),
            parameters=parameters,
        )
        return Answer(200, metadata.model_dump_json().encode("utf-8"))

    def infer(self, served: ServedModel, body: bytes, header_length: str | None) -> Answer:
        """Open Inference Protocol inference (JSON, or binary tensor data)."""
        request, binary = parse_infer_request(body, header_length)
        check_tensors(served, request)
        self._limit_rows(request.inputs[0].shape[0])
        wanted = _wanted_outputs(served, request)
        header = body[: len(body) - len(binary)]
        arrays = decode_inputs(request, binary, json_body=header)
        X = model_input(served, [item.name for item in request.inputs], arrays)
        recorder = self.metrics.model(served.name, served.version)
        results = score(served, X, wanted, recorder)
        recorder.rows.inc(arrays[0].shape[0])
        return _infer_answer(served, request, results)

    def predict(self, served: ServedModel, body: bytes) -> Answer:
        """Plain JSON scoring of ``records`` or ``columns`` + ``data``."""
        parsed = parse_predict_request(body)
        rows = len(parsed.records if parsed.records is not None else parsed.data or [])
        self._limit_rows(rows)
        X = records_input(served, parsed)
        recorder = self.metrics.model(served.name, served.version)
        results = score(served, X, [output.name for output in served.outputs], recorder)
        recorder.rows.inc(rows)
        payload: dict[str, Any] = {
            "model_name": served.name,
            "model_version": served.version,
            "predictions": json_values(results["predict"]),
        }
        if PREDICT_PROBA in results:
            payload["classes"] = served.classes
            payload["probabilities"] = [json_values(row) for row in results[PREDICT_PROBA]]
        return Answer(200, encode_json(payload))

    def _limit_rows(self, rows: int) -> None:
        if rows > self.max_batch_rows:
            raise RequestError(
                f"inputs: {rows} rows exceed the server's limit of {self.max_batch_rows} "
                "per request",
                status=413,
            )


def _wanted_outputs(served: ServedModel, request: InferenceRequest) -> list[str]:
    available = [output.name for output in served.outputs]
    if not request.outputs:
        return available
    wanted = []
    for index, output in enumerate(request.outputs):
        if output.name not in available:
            raise RequestError(
                f"outputs[{index}].name: unknown output {output.name!r}; this model has {available}"
            )
        wanted.append(output.name)
    return list(dict.fromkeys(wanted))


def _infer_answer(
    served: ServedModel, request: InferenceRequest, results: dict[str, Any]
) -> Answer:
    declared = {output.name: output.datatype for output in served.outputs}
    outputs = []
    binary_parts = []
    for name, array in results.items():
        datatype = declared[name]
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if wants_binary(request, name):
            raw = to_binary(array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            binary_parts.append(raw)
        else:
            entry["data"] = json_values(array)
        outputs.append(entry)
    payload: dict[str, Any] = {
        "model_name": served.name,
        "model_version": served.version,
        "outputs": outputs,
    }
    if request.id is not None:
        payload["id"] = request.id
    header = encode_json(payload)
    if not binary_parts:
        return Answer(200, header)
    return Answer(
        200,
        header + b"".join(binary_parts),
        "application/octet-stream",
        (("inference-header-content-length", str(len(header))),),
    )
