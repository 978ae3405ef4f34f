"""The inference operations, answered by a plain ASGI layer in front of FastAPI's router.

``POST /v2/models/{name}/infer`` (with its ``/versions/{version}`` form) and ``POST
/predict`` carry nearly all of a server's traffic. For a one-row request, FastAPI's
routing, dependency injection and request objects cost about as much CPU as parsing,
checking and scoring it (some 0.1 ms each), so :class:`InferenceLane` answers these
operations itself, with the same checks, limits, authentication and error shapes,
inside the app's metrics and error middleware. :func:`documented_routes` describes
them in the OpenAPI schema.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute

from tunelab.deploy.serve._inference import (
    PREDICT_PROBA,
    ModelSet,
    ServedModel,
    model_input,
    records_input,
    score,
)
from tunelab.deploy.serve._metrics import (
    ENDPOINT_SCOPE_KEY,
    MODEL_SCOPE_KEY,
    ASGIApp,
    Metrics,
    Receive,
    Scope,
    Send,
)
from tunelab.deploy.serve._protocol import (
    HEADER_LENGTH,
    InferenceRequest,
    InferenceResponse,
    PredictRequest,
    PredictResponse,
    RequestError,
    decode_inputs,
    encode_json,
    json_values,
    parse_infer_request,
    parse_predict_request,
    to_binary,
    wants_binary,
)
from tunelab.logging import get_logger

_logger = get_logger(__name__)

INFER_PATH = "/v2/models/{name}/infer"
VERSION_INFER_PATH = "/v2/models/{name}/versions/{version}/infer"
PREDICT_PATH = "/predict"
AUTH_MESSAGE = "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
# Bodies up to this size, for an ONNX backend, are parsed and scored on the event loop:
# a hop to the thread pool costs more than the work (tens of microseconds for one row).
INLINE_BODY_BYTES = 64 * 1024
_INFER = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")


class InferenceLane:
    """ASGI middleware answering the inference operations; other requests pass on.

    Args:
        app: The FastAPI app, for every other request.
        models: The served models.
        metrics: Where scored rows are counted (requests are counted by the metrics
            middleware around this one).
        api_key: The key requests must carry, or None for no authentication.
        max_body_bytes: Larger request bodies get 413.
        max_batch_rows: Requests with more rows get 413.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        models: ModelSet,
        metrics: Metrics,
        api_key: str | None,
        max_body_bytes: int,
        max_batch_rows: int,
    ) -> None:
        self.app = app
        self.models = models
        self.metrics = metrics
        self.expected_key = api_key.encode("utf-8") if api_key is not None else None
        self.max_body_bytes = max_body_bytes
        self.max_batch_rows = max_batch_rows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _route_of(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        endpoint, name, version = route
        scope[ENDPOINT_SCOPE_KEY] = endpoint
        try:
            response = await self._answer(scope, receive, endpoint, name, version)
        except RequestError as exc:
            response = error_response(exc)
        except ClientDisconnect:
            return
        except Exception as exc:
            # Answered here rather than re-raised: uvicorn drops the connection of an app
            # that raises, and the client may then get a reset instead of the 500.
            response = internal_error(scope, exc)
        await response(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, endpoint: str, name: str, version: str | None
    ) -> Response:
        if scope["method"] != "POST":
            raise RequestError("Method Not Allowed", status=405, headers={"Allow": "POST"})
        # The first of repeated headers counts, as in Starlette.
        headers = dict(reversed(scope["headers"]))
        self._authorize(headers)
        if endpoint == PREDICT_PATH:
            name = self._predict_model(scope)
        served = self.models.get(name, version)
        scope[MODEL_SCOPE_KEY] = name
        body = await _read_body(receive, headers.get(b"content-length"), self.max_body_bytes)
        if endpoint == PREDICT_PATH:
            return await _run(served, body, self._predict, served, body)
        split = headers.get(HEADER_LENGTH.encode("ascii"))
        header_length = split.decode("latin-1") if split is not None else None
        return await _run(served, body, self._infer, served, body, header_length)

    def _authorize(self, headers: dict[bytes, bytes]) -> None:
        if self.expected_key is None:
            return
        offered = [_bearer(headers.get(b"authorization")), headers.get(b"x-api-key")]
        texts = [item.decode("latin-1") if item is not None else None for item in offered]
        if not api_key_matches(texts, self.expected_key):
            raise RequestError(AUTH_MESSAGE, status=401, headers={"WWW-Authenticate": "Bearer"})

    def _predict_model(self, scope: Scope) -> str:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True))
        name = query.get("model")
        if name is None:
            names = self.models.names()
            if len(names) != 1:
                raise RequestError(f"model: required when several models are served ({names})")
            name = names[0]
        return name

    def _limit_rows(self, rows: int) -> None:
        if rows > self.max_batch_rows:
            raise RequestError(
                f"inputs: {rows} rows exceed the server's limit of {self.max_batch_rows} "
                "per request",
                status=413,
            )

    def _infer(self, served: ServedModel, body: bytes, header_length: str | None) -> Response:
        request, binary = parse_infer_request(body, header_length)
        wanted = _wanted_outputs(served, request)
        arrays = decode_inputs(request, binary)
        rows = max((array.shape[0] for array in arrays), default=0)
        self._limit_rows(rows)
        X = model_input(served, [item.name for item in request.inputs], arrays)
        results = score(served, X, wanted)
        self.metrics.scored(served.name, served.version, rows)
        return _infer_response(served, request, results)

    def _predict(self, served: ServedModel, body: bytes) -> Response:
        parsed = parse_predict_request(body)
        rows = len(parsed.records if parsed.records is not None else parsed.data or [])
        self._limit_rows(rows)
        X = records_input(served, parsed)
        results = score(served, X, [output.name for output in served.outputs])
        self.metrics.scored(served.name, served.version, rows)
        payload: dict[str, Any] = {
            "model_name": served.name,
            "model_version": served.version,
            "predictions": json_values(results["predict"]),
        }
        if PREDICT_PROBA in results:
            payload["classes"] = served.classes
            payload["probabilities"] = [json_values(row) for row in results[PREDICT_PROBA]]
        return Response(encode_json(payload), media_type="application/json")


def error_response(error: RequestError) -> JSONResponse:
    """The answer to a refused request: ``{"error": message}`` with its status."""
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=error.headers)


def internal_error(scope: Scope, exc: Exception) -> JSONResponse:
    """Log an unexpected failure and answer 500 without revealing its details."""
    _logger.error("error answering %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
    return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)


def api_key_matches(offered: Sequence[str | None], expected: bytes) -> bool:
    """True when any offered key equals ``expected``, compared in constant time."""
    # compare_digest takes the same time whatever the key, so timing reveals nothing.
    return any(
        item is not None and hmac.compare_digest(item.encode("utf-8"), expected) for item in offered
    )


def _route_of(scope: Scope) -> tuple[str, str, str | None] | None:
    """(route template, model name, version) of an inference path, else None."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    if path == PREDICT_PATH:
        return PREDICT_PATH, "", None
    match = _INFER.fullmatch(path)
    if match is None:
        return None
    version = match.group("version")
    return (VERSION_INFER_PATH if version else INFER_PATH), match.group("name"), version


def _bearer(value: bytes | None) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <key>`` header."""
    scheme, _, credentials = (value or b"").partition(b" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == b"bearer" and credentials else None


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes.

    Raises:
        ClientDisconnect: The client went away before sending the whole body.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            f"body: {declared.decode()} bytes exceed the server's limit of {limit}", status=413
        )
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(f"body: more than the server's limit of {limit} bytes", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _run(
    served: ServedModel, body: bytes, work: Callable[..., Response], *args: Any
) -> Response:
    """``work(*args)``, on the event loop when it is quick, else in the thread pool.

    scikit-learn takes milliseconds even for one row and must not stall other requests.
    """
    if served.model.backend != "sklearn" and len(body) <= INLINE_BODY_BYTES:
        return work(*args)
    return await run_in_threadpool(work, *args)


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


def _infer_response(
    served: ServedModel, request: InferenceRequest, results: dict[str, Any]
) -> Response:
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
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(binary_parts),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def _json_body(model: type) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def documented_routes(guard: list[Any], responses: dict[int | str, Any]) -> list[BaseRoute]:
    """Routes describing the lane's operations for the OpenAPI schema only.

    They are never mounted: :class:`InferenceLane` answers these requests before
    routing. ``guard`` (the API-key dependency) documents the security requirement.
    """
    router = APIRouter()
    infer: dict[str, Any] = {
        "dependencies": guard,
        "responses": responses,
        "response_model": InferenceResponse,
        "openapi_extra": _json_body(InferenceRequest),
    }

    @router.post(INFER_PATH, **infer)
    def model_infer(name: str) -> None:
        """Score the inputs (one tensor per column, or one 2-D tensor) with the model.

        Binary tensor data (Triton's ``Inference-Header-Content-Length``) is accepted
        too; ask for binary outputs with ``parameters.binary_data``.
        """

    @router.post(VERSION_INFER_PATH, **infer)
    def model_version_infer(name: str, version: str) -> None:
        """Inference on one version; 404 unless it is the version being served."""

    @router.post(
        PREDICT_PATH,
        dependencies=guard,
        responses=responses,
        response_model=PredictResponse,
        openapi_extra=_json_body(PredictRequest),
    )
    def predict(model: str | None = None) -> None:
        """Score rows given as ``records`` or as ``columns`` + ``data``.

        ``model`` picks the served model; it may be left out when only one is served.
        """

    return list(router.routes)
