"""The HTTP server: Open Inference Protocol v2 endpoints, ``/predict`` and ``/metrics``.

Authentication, when an API key is set, covers every endpoint except the two health
checks (``/v2/health/live``, ``/v2/health/ready``) and the API docs (``/openapi.json``,
``/docs``), so that load balancers and orchestrators can probe without the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Annotated, Any

try:
    from fastapi import Depends, FastAPI, Request, Security
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response
    from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
    from starlette.exceptions import HTTPException
    from starlette.routing import BaseRoute
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"serving models needs FastAPI and uvicorn: pip install 'tunelab[serve]' ({exc})"
    ) from exc

from tunelab.deploy._artifact import Backend, LoadedModel
from tunelab.deploy._registry import Registry
from tunelab.deploy.serve._inference import ModelSet, ServedModel, describe
from tunelab.deploy.serve._lane import (
    AUTH_MESSAGE,
    InferenceLane,
    api_key_matches,
    documented_routes,
    error_response,
    internal_error,
)
from tunelab.deploy.serve._metrics import MODEL_SCOPE_KEY, Metrics, MetricsMiddleware
from tunelab.deploy.serve._protocol import (
    ErrorResponse,
    InferenceRequest,
    LiveResponse,
    ModelMetadata,
    PredictRequest,
    ReadyResponse,
    RequestError,
    ServerMetadata,
    validation_message,
)
from tunelab.deploy.serve._reload import AliasFollower

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 10_000
DEFAULT_POLL_SECONDS = 5.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request; the message names the field."},
    404: {"model": ErrorResponse, "description": "No such model or version."},
    413: {"model": ErrorResponse, "description": "Body or batch over the server's limits."},
}
# Module level: FastAPI resolves the string annotations of ``check`` in these globals.
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong API key."}
}


def create_app(
    models: Mapping[str, LoadedModel | str],
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    registry: Registry | str | os.PathLike[str] | None = None,
    follow_alias: bool = False,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    backend: Backend = "auto",
    trusted: Sequence[str] | None = None,
) -> FastAPI:
    """Build the ASGI app serving ``models``; every model is loaded here, once.

    Args:
        models: Served name to a :class:`LoadedModel` or a registry reference
            (``name@alias``, ``name:3`` or ``name``).
        api_key: When set, requests must send ``Authorization: Bearer <key>`` or
            ``X-API-Key: <key>`` (health checks and API docs stay open).
        max_body_bytes: Larger request bodies get 413.
        max_batch_rows: Requests with more rows get 413.
        registry: The registry that references are resolved in (a :class:`Registry`
            or its URL); required when ``models`` holds references.
        follow_alias: Poll the registry and swap in the new version when an alias
            of a ``name@alias`` model moves.
        poll_seconds: Time between two polls when following aliases.
        backend: Backend for models loaded from references (see :func:`load_model`).
        trusted: Extra types skops may build when loading references.

    Returns:
        A FastAPI app; run it with uvicorn or :func:`serve`.

    Raises:
        ValueError: An empty ``models``, a bad name or limit, references without a
            registry, ``follow_alias`` without any alias reference, or a model
            without a signature.
        RegistryError: A reference that does not resolve.
    """
    check_options(models, api_key, max_body_bytes, max_batch_rows, poll_seconds)
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
    app = FastAPI(
        title="tunelab model server",
        description=__doc__,
        version=_tunelab_version(),
        lifespan=_lifespan(follower),
    )
    app.state.models = model_set
    app.state.metrics = metrics
    app.state.follower = follower
    # Added first, so the metrics middleware wraps it and counts its requests too.
    app.add_middleware(
        InferenceLane,
        models=model_set,
        metrics=metrics,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        max_batch_rows=max_batch_rows,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _install_error_handlers(app)
    guard = [Depends(_key_check(api_key))] if api_key else []
    responses = {**_ERRORS, **(_AUTH_ERRORS if api_key else {})}
    _add_health_routes(app, model_set, guard, responses)
    _add_metrics_route(app, metrics, guard)
    _document(app, documented_routes(guard, responses), [InferenceRequest, PredictRequest])
    return app


def check_options(
    models: Mapping[str, Any],
    api_key: str | None,
    max_body_bytes: int,
    max_batch_rows: int,
    poll_seconds: float,
) -> None:
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
    for what, value in (("max_body_bytes", max_body_bytes), ("max_batch_rows", max_batch_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
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


def _lifespan(follower: AliasFollower | None) -> Callable[[FastAPI], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(follower.run()) if follower is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


def _key_check(api_key: str | None) -> Callable[..., Any]:
    expected = (api_key or "").encode("utf-8")

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
        key: Annotated[str | None, Security(_KEY_HEADER)],
    ) -> None:
        offered = [credentials.credentials if credentials else None, key]
        if not api_key_matches(offered, expected):
            raise HTTPException(
                status_code=401, detail=AUTH_MESSAGE, headers={"WWW-Authenticate": "Bearer"}
            )

    return check


def _install_error_handlers(app: FastAPI) -> None:
    async def request_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"error": validation_message(exc)}, status_code=400)  # type: ignore[arg-type]

    async def unexpected(request: Request, exc: Exception) -> Response:
        return internal_error(request.scope, exc)

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _add_health_routes(
    app: FastAPI, models: ModelSet, guard: list[Any], responses: dict[int | str, Any]
) -> None:
    @app.get("/v2", response_model=ServerMetadata, dependencies=guard, responses=responses)
    def server_metadata() -> ServerMetadata:
        """Server name, version and the protocol extensions it supports."""
        return ServerMetadata(
            name="tunelab", version=_tunelab_version(), extensions=["binary_tensor_data"]
        )

    @app.get("/v2/health/live", response_model=LiveResponse)
    def live() -> LiveResponse:
        """200 while the process answers (no API key needed)."""
        return LiveResponse(live=True)

    @app.get("/v2/health/ready", response_model=ReadyResponse)
    def ready() -> ReadyResponse:
        """200 once every model is loaded, which happens before the server listens."""
        return ReadyResponse(ready=bool(models.names()))

    def describe_model(request: Request, name: str, version: str | None) -> ModelMetadata:
        served = models.get(name, version)
        request.scope[MODEL_SCOPE_KEY] = name
        return ModelMetadata(
            name=served.name,
            versions=[served.version],
            platform=served.platform,
            inputs=list(served.inputs),
            outputs=list(served.outputs),
            parameters={"backend": served.model.backend, "ref": served.ref},
        )

    def check_ready(request: Request, name: str, version: str | None) -> ReadyResponse:
        models.get(name, version)
        request.scope[MODEL_SCOPE_KEY] = name
        return ReadyResponse(ready=True, name=name)

    options: dict[str, Any] = {"dependencies": guard, "responses": responses}

    @app.get("/v2/models/{name}", response_model=ModelMetadata, **options)
    def model_metadata(request: Request, name: str) -> ModelMetadata:
        """The model's version, backend, and input and output tensors (OIP datatypes)."""
        return describe_model(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, **options)
    def model_version_metadata(request: Request, name: str, version: str) -> ModelMetadata:
        """Metadata of one version; 404 unless it is the version being served."""
        return describe_model(request, name, version)

    @app.get("/v2/models/{name}/ready", response_model=ReadyResponse, **options)
    def model_ready(request: Request, name: str) -> ReadyResponse:
        """200 when the model is served."""
        return check_ready(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", response_model=ReadyResponse, **options)
    def model_version_ready(request: Request, name: str, version: str) -> ReadyResponse:
        """200 when this version of the model is the one served."""
        return check_ready(request, name, version)


def _add_metrics_route(app: FastAPI, metrics: Metrics, guard: list[Any]) -> None:
    @app.get(
        "/metrics",
        dependencies=guard,
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics."}},
    )
    def prometheus_metrics() -> Response:
        """Request counts, latency histogram, errors and rows scored, per model."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)


def _document(app: FastAPI, routes: list[BaseRoute], bodies: list[type]) -> None:
    """Add the lane's operations and the request bodies handlers parse themselves to
    the schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*app.routes, *routes],
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in bodies:
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
