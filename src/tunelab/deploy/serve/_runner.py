"""Running the app with uvicorn: in the foreground, in worker processes, or in a thread."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from tunelab._imports import optional_import
from tunelab._validation import is_int
from tunelab.deploy._artifact import Backend, LoadedModel
from tunelab.deploy._registry import Registry
from tunelab.deploy.serve._app import (
    DEFAULT_POLL_SECONDS,
    check_options,
    create_app,
    open_registry,
)
from tunelab.deploy.serve._limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_CONNECTIONS,
    Limits,
)

CONFIG_ENV = "TUNELAB_SERVE_CONFIG"
API_KEY_ENV = "TUNELAB_API_KEY"
# By dotted name, so that importing this package does not need uvicorn, and so that
# worker processes can import it.
HTTP_PROTOCOL = "tunelab.deploy.serve._connection:GuardedProtocol"


def _uvicorn() -> Any:
    return optional_import("uvicorn", extra="serve", purpose="serving models")


def serve(
    models: Mapping[str, LoadedModel | str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    api_key: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_bytes_in_flight: int = DEFAULT_MAX_BYTES_IN_FLIGHT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    follow_alias: bool = False,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    backend: Backend = "auto",
    trusted: Sequence[str] | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``models`` over HTTP until interrupted (see :func:`create_app`).

    With ``workers > 1`` every model must be a registry reference: each worker process
    builds its own app from the environment and loads the models itself. Their
    Prometheus metrics are pooled in ``PROMETHEUS_MULTIPROC_DIR`` (a temporary
    folder unless already set). uvicorn uses httptools and uvloop when they are
    installed (``pip install 'uvicorn[standard]'``), which cuts the CPU time per
    request by about a third. ``access_log`` logs every request, at a cost in
    throughput.

    Raises:
        ValueError: ``workers < 1``, or several workers with a non-reference model.
    """
    uvicorn = _uvicorn()
    if not is_int(workers) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    options: dict[str, Any] = {
        "max_body_bytes": max_body_bytes,
        "max_batch_rows": max_batch_rows,
        "max_bytes_in_flight": max_bytes_in_flight,
        "max_connections": max_connections,
        "header_timeout": header_timeout,
        "body_timeout": body_timeout,
        "follow_alias": follow_alias,
        "poll_seconds": poll_seconds,
        "backend": backend,
        "trusted": list(trusted or ()),
    }
    if workers == 1:
        app = create_app(models, api_key=api_key, registry=registry, **options)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            http=HTTP_PROTOCOL,
        )
        return
    local = [name for name, item in models.items() if not isinstance(item, str)]
    if local:
        raise ValueError(
            f"models {local} are loaded objects; with workers > 1 give registry refs "
            "('name@alias') so each worker can load them"
        )
    # Checked here so that a bad ref or limit fails once, before any worker starts.
    check_options(models, api_key, poll_seconds)
    Limits(**{key: value for key, value in options.items() if key in Limits.__dataclass_fields__})
    store = open_registry(registry, models)
    assert store is not None
    for ref in models.values():
        store.resolve(str(ref))
    url = store.url
    os.environ[CONFIG_ENV] = json.dumps({"models": dict(models), "registry": url, **options})
    if api_key is not None:
        os.environ[API_KEY_ENV] = api_key
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tunelab-metrics-"))
    uvicorn.run(
        "tunelab.deploy.serve._runner:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        http=HTTP_PROTOCOL,
    )


def app_from_env() -> Any:
    """The app described by ``$TUNELAB_SERVE_CONFIG`` (JSON) and ``$TUNELAB_API_KEY``.

    This is the factory uvicorn calls in each worker process.

    Raises:
        ValueError: The variable is missing or not valid JSON.
    """
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise ValueError(f"${CONFIG_ENV} is not set; start the server with `tunelab serve`")
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"${CONFIG_ENV} is not valid JSON: {exc}") from None
    models = config.pop("models")
    registry = config.pop("registry") or None
    return create_app(models, api_key=os.environ.get(API_KEY_ENV), registry=registry, **config)


class ServerThread:
    """Runs an app with uvicorn in a background thread, on a loopback port of its own.

    The port is bound before the thread starts, so there is no race for a free port.
    Use it as a context manager; leaving the block stops the server.

    Args:
        app: The ASGI app, e.g. from :func:`create_app`.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        startup_timeout: Seconds to wait for the server to start.
        **options: More ``uvicorn.Config`` settings, overriding this class's.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
        **options: Any,
    ) -> None:
        uvicorn = _uvicorn()
        # Created as TCP explicitly: asyncio turns Nagle's algorithm off only then.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        settings = {"log_level": "warning", "access_log": False, "lifespan": "on"}
        config = uvicorn.Config(app, **{**settings, "http": HTTP_PROTOCOL, **options})
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Start serving and wait until the server accepts connections.

        Raises:
            RuntimeError: The server did not start within ``startup_timeout``.
        """
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to finish its requests and stop; wait up to ``timeout`` seconds."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
