"""The server's one request path: routing, authentication, limits, errors and metrics.

Every endpoint, the Open Inference Protocol v2 ones, ``/predict``, ``/metrics`` and
the API description, goes through :class:`ServerApp`: it matches the route, checks the
API key, reads the body within the limits, hands the work to the protocol-neutral
:class:`~tunelab.deploy.serve._dataplane.DataPlane`, turns refusals into
``{"error": ...}`` answers and records the request's metrics. The OpenAPI description
is generated from the same route table, so it cannot drift from what is served.

Authentication, when an API key is set, covers every endpoint except the health
checks (``/v2/health/live``, ``/v2/health/ready``) and the API docs (``/openapi.json``,
``/docs``), so that load balancers and orchestrators can probe without the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

try:
    from pydantic import BaseModel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"serving models needs pydantic and uvicorn: pip install 'tunelab[serve]' ({exc})"
    ) from exc

from tunelab.deploy._artifact import Backend, LoadedModel
from tunelab.deploy._registry import Registry
from tunelab.deploy.serve._dataplane import EMPTY_OK, Answer, DataPlane
from tunelab.deploy.serve._inference import ModelSet, ServedModel, describe
from tunelab.deploy.serve._limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_CONNECTIONS,
    ByteBudget,
    Limits,
)
from tunelab.deploy.serve._metrics import PUBLISH_SECONDS, Metrics
from tunelab.deploy.serve._openapi import build_openapi, docs_page
from tunelab.deploy.serve._protocol import (
    HEADER_LENGTH,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    PredictRequest,
    PredictResponse,
    RequestError,
    ServerMetadata,
    encode_json,
)
from tunelab.deploy.serve._reload import AliasFollower
from tunelab.logging import get_logger

_logger = get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_POLL_SECONDS = 5.0
AUTH_MESSAGE = "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
# Bodies up to this size, for an ONNX backend, are parsed and scored on the event loop:
# a hop to a thread costs more than the work (tens of microseconds for one row).
INLINE_BODY_BYTES = 64 * 1024
# Threads scoring at once, as many as Starlette's thread pool has: scikit-learn's tree
# code releases the GIL, and requests beyond the cores queue here rather than in
# sockets. The bytes-in-flight budget, not this, bounds the memory large requests take.
SCORING_THREADS = 40
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PARAMETER = re.compile(r"\{(\w+)\}")


class ClientGone(Exception):
    """The client disconnected before sending its whole request."""


@dataclass(frozen=True)
class Route:
    """One operation: how it is matched, whether it needs the key, and its description.

    Attributes:
        method: HTTP method.
        template: Path with ``{parameters}``; the metrics label requests by it.
        handler: Name of the :class:`ServerApp` method answering it.
        summary: One line for the API description.
        description: More of it.
        open: True when it needs no API key.
        body: The JSON body it takes (the parser and the schema alike).
        answer: The JSON it answers with; None for an empty or non-JSON body.
        answer_type: Content type of a non-JSON answer (None: empty body).
        model: True when ``{name}`` (or ``?model=``) names a served model (404 otherwise).
    """

    method: str
    template: str
    handler: str
    summary: str
    description: str = ""
    open: bool = False
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    answer_type: str | None = None
    model: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        """The regular expression matching the route's paths."""
        return re.compile(_PARAMETER.sub(r"(?P<\1>[^/]+)", self.template))


_MODEL = "/v2/models/{name}"
_VERSION = "/v2/models/{name}/versions/{version}"
ROUTES = (
    Route(
        "POST",
        f"{_MODEL}/infer",
        "infer",
        "Score input tensors with the model (Open Inference Protocol v2).",
        "One tensor per input the model's metadata lists, each of exactly its datatype "
        "and shape; or, when the metadata has a `matrix_input` parameter, one 2-D tensor "
        "of that datatype with a column per input. Binary tensor data (Triton's "
        "`Inference-Header-Content-Length`) is accepted too; ask for binary outputs "
        "with `parameters.binary_data`.",
        body=InferenceRequest,
        answer=InferenceResponse,
        model=True,
    ),
    Route(
        "POST",
        f"{_VERSION}/infer",
        "infer",
        "Inference on one version; 404 unless it is the version being served.",
        body=InferenceRequest,
        answer=InferenceResponse,
        model=True,
    ),
    Route(
        "POST",
        "/predict",
        "predict",
        "Score rows given as `records` or as `columns` + `data`.",
        "`?model=` picks the served model; it may be left out when only one is served. "
        "Values must have their column's JSON type: numbers (or null) for float columns, "
        "whole numbers for integer ones, true/false for booleans, strings for text.",
        body=PredictRequest,
        answer=PredictResponse,
        model=True,
    ),
    Route("GET", "/v2/health/live", "live", "200 while the process answers.", open=True),
    Route("GET", "/v2/health/ready", "ready", "200 once every model is loaded.", open=True),
    Route(
        "GET",
        "/v2",
        "server_metadata",
        "Server name, version and extensions.",
        answer=ServerMetadata,
    ),
    Route(
        "GET",
        _MODEL,
        "model_metadata",
        "The model's version, backend and input and output tensors.",
        answer=ModelMetadata,
        model=True,
    ),
    Route(
        "GET",
        _VERSION,
        "model_metadata",
        "Metadata of one version; 404 unless it is the version being served.",
        answer=ModelMetadata,
        model=True,
    ),
    Route("GET", f"{_MODEL}/ready", "model_ready", "200 when the model is served.", model=True),
    Route(
        "GET",
        f"{_VERSION}/ready",
        "model_ready",
        "200 when this version of the model is the one served.",
        model=True,
    ),
    Route(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics: requests, errors, latency, rows scored and the time of the "
        "model call itself (histogram, recent p50 and p95), per model.",
        answer_type="text/plain",
    ),
    Route(
        "GET",
        "/openapi.json",
        "openapi",
        "This API description.",
        open=True,
        answer_type="application/json",
    ),
    Route("GET", "/docs", "docs", "Interactive API docs.", open=True, answer_type="text/html"),
)


def create_app(
    models: Mapping[str, LoadedModel | str],
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    registry: Registry | str | os.PathLike[str] | None = None,
    follow_alias: bool = False,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    backend: Backend = "auto",
    trusted: Sequence[str] | None = None,
) -> ServerApp:
    """Build the ASGI app serving ``models``; every model is loaded here, once.

    Args:
        models: Served name to a :class:`LoadedModel` or a registry reference
            (``name@alias``, ``name:3`` or ``name``).
        api_key: When set, requests must send ``Authorization: Bearer <key>`` or
            ``X-API-Key: <key>`` (health checks and API docs stay open).
        max_body_bytes: Larger request bodies get 413.
        max_batch_rows: Requests with more rows get 413.
        max_bytes_in_flight: Request body bytes held at once (see :class:`Limits`).
        max_connections: Open connections beyond this get 503 and are closed.
        header_timeout: Seconds a request head may take to arrive (then 408).
        body_timeout: Seconds a request body may take to arrive (then 408).
        registry: The registry that references are resolved in (a :class:`Registry`
            or its URL); required when ``models`` holds references.
        follow_alias: Poll the registry and swap in the new version when an alias
            of a ``name@alias`` model moves.
        poll_seconds: Time between two polls when following aliases.
        backend: Backend for models loaded from references (see :func:`load_model`).
        trusted: Extra types skops may build when loading references.

    Returns:
        The ASGI app; run it with uvicorn (with :data:`HTTP_PROTOCOL` so that the
        connection limits apply), :func:`serve` or :class:`ServerThread`.

    Raises:
        ValueError: An empty ``models``, a bad name or limit, references without a
            registry, ``follow_alias`` without any alias reference, or a model
            without a signature.
        RegistryError: A reference that does not resolve.
    """
    limits = Limits(
        max_body_bytes=max_body_bytes,
        max_batch_rows=max_batch_rows,
        max_bytes_in_flight=max_bytes_in_flight,
        max_connections=max_connections,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
    )
    check_options(models, api_key, poll_seconds)
    store = open_registry(registry, models)

    def load(ref: str) -> LoadedModel:
        assert store is not None
        return store.load(ref, backend=backend, trusted=list(trusted or ()))

    metrics = Metrics()
    model_set = ModelSet([_serve_one(name, item, store, load) for name, item in models.items()])
    for served in model_set.all():
        metrics.version.labels(served.name).set(_version_number(served.version))
    follower = None
    if follow_alias:
        if not any(isinstance(item, str) and "@" in item for item in models.values()):
            raise ValueError("follow_alias=True needs at least one model given as 'name@alias'")
        assert store is not None
        follower = AliasFollower(
            models=model_set, registry=store, load=load, metrics=metrics, poll_seconds=poll_seconds
        )
    plane = DataPlane(model_set, metrics, version=_tunelab_version(), max_batch_rows=max_batch_rows)
    return ServerApp(plane, limits=limits, api_key=api_key, follower=follower)


def check_options(models: Mapping[str, Any], api_key: str | None, poll_seconds: float) -> None:
    """Raise ValueError naming the first bad argument of :func:`create_app`."""
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty mapping of name to model or registry ref")
    for name, item in models.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"models: name {name!r} must be 1-128 letters, digits, '.', '_' or '-'"
            )
        if not isinstance(item, LoadedModel | str):
            raise ValueError(
                f"models[{name!r}] must be a LoadedModel or a registry ref such as "
                f"'name@alias', got {type(item).__name__}"
            )
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ValueError("api_key must be a non-empty string or None")
    if not poll_seconds > 0:
        raise ValueError(f"poll_seconds must be > 0, got {poll_seconds!r}")


def open_registry(
    registry: Registry | str | os.PathLike[str] | None, models: Mapping[str, Any]
) -> Registry | None:
    """The registry to resolve refs in; ValueError when refs come without one."""
    if isinstance(registry, Registry):
        return registry
    if registry is not None:
        return Registry(registry)
    refs = [name for name, item in models.items() if isinstance(item, str)]
    if refs:
        raise ValueError(f"models {refs} are registry refs: pass registry= to resolve them")
    return None


class ServerApp:
    """The ASGI app: one request path in front of the :class:`DataPlane`.

    Attributes:
        plane: The operations on the served models.
        limits: What requests and connections may use.
        state: ``models``, ``metrics`` and ``follower`` (the alias follower or None).
    """

    def __init__(
        self,
        plane: DataPlane,
        *,
        limits: Limits,
        api_key: str | None,
        follower: AliasFollower | None,
    ) -> None:
        self.plane = plane
        self.limits = limits
        self.state = SimpleNamespace(models=plane.models, metrics=plane.metrics, follower=follower)
        self._expected_key = api_key.encode("utf-8") if api_key is not None else None
        self._budget = ByteBudget(limits.max_bytes_in_flight)
        self._executor = ThreadPoolExecutor(SCORING_THREADS, thread_name_prefix="tunelab-score")
        self._exact = {route.template: route for route in ROUTES if "{" not in route.template}
        self._patterns = [(route.pattern, route) for route in ROUTES if "{" in route.template]
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # -- the request path ----------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request = _Request(scope)
        reserved = 0
        try:
            try:
                answer, reserved = await self._answer(request, receive)
            except RequestError as exc:
                answer = _error(exc.status, str(exc), tuple(exc.headers.items()))
            except ClientGone:
                request.status = 499  # nginx's code for a client that left; nothing is sent
                return
            except Exception as exc:
                # Answered rather than re-raised: uvicorn drops the connection of an app
                # that raises, and the client would get a reset instead of the 500.
                _logger.error("error answering %s %s", scope["method"], scope["path"], exc_info=exc)
                answer = _error(500, f"internal error ({type(exc).__name__})")
            request.status = answer.status
            await _send(send, answer)
        finally:
            if reserved:
                self._budget.give(reserved)
            self.plane.metrics.observe(
                scope["method"],
                request.endpoint,
                request.model,
                request.status,
                time.perf_counter() - start,
            )

    async def _answer(self, request: _Request, receive: Receive) -> tuple[Answer, int]:
        route, params = self._route(request)
        request.endpoint = route.template
        if not route.open:
            self._authorize(request.headers)
        served = None
        if route.model:
            name = params.get("name") if "name" in params else request.query().get("model")
            served = self.plane.model(name, params.get("version"))
            request.model = served.name
        if route.body is None:
            return await getattr(self, route.handler)(served), 0
        body, reserved = await self._read_body(request, receive)
        try:
            return await getattr(self, route.handler)(served, body, request), reserved
        except BaseException:
            self._budget.give(reserved)
            raise

    def _route(self, request: _Request) -> tuple[Route, dict[str, str]]:
        path = request.path
        method = request.method
        exact = self._exact.get(path)
        if exact is not None:
            if exact.method == method:
                return exact, {}
            allowed = {exact.method}
        else:
            allowed = set()
            for pattern, route in self._patterns:
                match = pattern.fullmatch(path)
                if match is not None:
                    if route.method == method:
                        return route, match.groupdict()
                    allowed.add(route.method)
        if allowed:
            raise RequestError(
                "Method Not Allowed", status=405, headers={"Allow": ", ".join(sorted(allowed))}
            )
        raise RequestError(f"no endpoint {method} {path}; see /openapi.json", status=404)

    def _authorize(self, headers: dict[bytes, bytes]) -> None:
        if self._expected_key is None:
            return
        offered = [_bearer(headers.get(b"authorization")), headers.get(b"x-api-key")]
        # compare_digest takes the same time whatever the key, so timing reveals nothing.
        if not any(
            item is not None and hmac.compare_digest(item, self._expected_key) for item in offered
        ):
            raise RequestError(AUTH_MESSAGE, status=401, headers={"WWW-Authenticate": "Bearer"})

    async def _read_body(self, request: _Request, receive: Receive) -> tuple[bytes, int]:
        """The body, within the size limit and the bytes-in-flight budget.

        Returns:
            The body and the bytes of budget it holds (to give back once answered).
        """
        limit = self.limits.max_body_bytes
        declared = request.headers.get(b"content-length")
        wait = self.limits.body_timeout / 2
        reserved = 0
        if declared is not None:
            if not declared.isdigit():
                raise RequestError(f"Content-Length: expected a number of bytes, got {declared!r}")
            size = int(declared)
            if size > limit:
                raise RequestError(
                    f"body: {size} bytes exceed the server's limit of {limit}", status=413
                )
            reserved = await self._take(size, wait)
        chunks = []
        received = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise RequestError(
                        f"body: more than the server's limit of {limit} bytes", status=413
                    )
                if received > reserved:
                    reserved += await self._take(received - reserved, wait)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), reserved
        except BaseException:
            self._budget.give(reserved)
            raise

    async def _take(self, size: int, wait: float) -> int:
        if size == 0:
            return 0
        taken = self._budget.try_take(size)
        if taken is None:
            taken = await self._budget.take(size, wait)
        if taken is None:
            raise RequestError(
                f"server busy: {self._budget.capacity} request bytes already in flight; "
                "retry shortly",
                status=503,
                headers={"Retry-After": "1"},
            )
        return taken

    async def _run(
        self, served: ServedModel, body: bytes, work: Callable[..., Answer], *args: Any
    ) -> Answer:
        """``work(*args)``, on the event loop when it is quick, else on a scoring thread.

        scikit-learn takes milliseconds even for one row and must not stall other requests.
        """
        if served.model.backend != "sklearn" and len(body) <= INLINE_BODY_BYTES:
            return work(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, *args)

    # -- handlers (named by the route table) ---------------------------------------------------

    async def infer(self, served: ServedModel, body: bytes, request: _Request) -> Answer:
        """Open Inference Protocol inference; the binary extension's header is read here."""
        split = request.headers.get(HEADER_LENGTH.encode("ascii"))
        header_length = split.decode("latin-1") if split is not None else None
        return await self._run(served, body, self.plane.infer, served, body, header_length)

    async def predict(self, served: ServedModel, body: bytes, request: _Request) -> Answer:
        """``/predict`` scoring."""
        return await self._run(served, body, self.plane.predict, served, body)

    async def live(self, served: None) -> Answer:
        """Liveness: 200 with an empty body while the process answers."""
        return EMPTY_OK

    async def ready(self, served: None) -> Answer:
        """Readiness: 200 with an empty body once every model is loaded."""
        return self.plane.ready()

    async def server_metadata(self, served: None) -> Answer:
        """Server name, version and extensions."""
        return self.plane.server_metadata()

    async def model_metadata(self, served: ServedModel) -> Answer:
        """One model's metadata."""
        return self.plane.model_metadata(served)

    async def model_ready(self, served: ServedModel) -> Answer:
        """200 with an empty body: the model was found, so it is served."""
        return EMPTY_OK

    async def metrics(self, served: None) -> Answer:
        """The Prometheus exposition."""
        text, content_type = self.plane.metrics.render()
        return Answer(200, text, content_type)

    async def openapi(self, served: None) -> Answer:
        """The OpenAPI description, built once from the route table."""
        if self._openapi is None:
            document = build_openapi(
                ROUTES,
                self.plane.models.all(),
                title="tunelab model server",
                version=self.plane.version,
                description=__doc__ or "",
                api_key=self._expected_key is not None,
            )
            self._openapi = encode_json(document)
        return Answer(200, self._openapi)

    async def docs(self, served: None) -> Answer:
        """Swagger UI over ``/openapi.json``."""
        return Answer(200, docs_page("tunelab model server"), "text/html; charset=utf-8")

    # -- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        follower = self.state.follower
        tasks: list[asyncio.Task[None]] = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                tasks.append(asyncio.create_task(self._publish_metrics()))
                if follower is not None:
                    tasks.append(asyncio.create_task(follower.run()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _publish_metrics(self) -> None:
        """Publish the model-call times on a clock, so that with several workers every
        worker's calls reach the pooled metrics whichever worker answers ``/metrics``."""
        while True:
            await asyncio.sleep(PUBLISH_SECONDS)
            self.plane.metrics.publish()


class _Request:
    """What the request path knows of one request, and how metrics will label it."""

    __slots__ = ("endpoint", "headers", "method", "model", "path", "scope", "status")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        self.path = path
        # The first of repeated headers counts, as in Starlette.
        self.headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))
        self.endpoint = "unmatched"
        self.model = ""
        self.status = 500

    def query(self) -> dict[str, str]:
        text = self.scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(text, keep_blank_values=True))


def _bearer(value: bytes | None) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <key>`` header."""
    scheme, _, credentials = (value or b"").partition(b" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == b"bearer" and credentials else None


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, encode_json({"error": message}), headers=headers)


async def _send(send: Send, answer: Answer) -> None:
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(answer.body)).encode("latin-1")),
    ]
    headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    )
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _serve_one(
    name: str, item: LoadedModel | str, store: Registry | None, load: Callable[[str], LoadedModel]
) -> ServedModel:
    if isinstance(item, LoadedModel):
        return describe(name, "1", item, None)
    assert store is not None
    registry_name, version = store.resolve(item)
    # Loading the resolved number, not the ref, so an alias moving meanwhile cannot
    # make the reported version differ from the loaded one.
    return describe(name, str(version), load(f"{registry_name}:{version}"), item)


def _version_number(version: str) -> int:
    return int(version) if version.isdigit() else 0


def _tunelab_version() -> str:
    from tunelab import __version__

    return __version__
