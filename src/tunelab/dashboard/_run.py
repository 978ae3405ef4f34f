"""Serving the dashboard with uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

from tunelab._imports import optional_import
from tunelab.dashboard._app import create_app
from tunelab.storage import BaseStorage, get_storage


def _uvicorn() -> Any:
    return optional_import("uvicorn", extra="serve", purpose="the dashboard")


def run_dashboard(
    storage: str | BaseStorage,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    api_key: str | None = None,
) -> None:
    """Serve the dashboard until interrupted.

    Args:
        storage: A storage or its URL, e.g. ``sqlite:///tunelab.db``.
        host: Interface to listen on (``0.0.0.0`` for every interface).
        port: Port to listen on.
        api_key: Key the write actions need; None keeps the dashboard read-only.
    """
    app = create_app(get_storage(storage), api_key=api_key, warm_up=True)
    _uvicorn().run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # Browsers hold long polls open; stopping waits for them at most this long.
        timeout_graceful_shutdown=1,
    )


class DashboardThread:
    """The dashboard served by uvicorn in a background thread, on a port of its own.

    Use it as a context manager; leaving the block stops the server.

    Args:
        storage: A storage or its URL.
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one.
        api_key: Key the write actions need; None keeps the dashboard read-only.
    """

    def __init__(
        self,
        storage: str | BaseStorage,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        uvicorn = _uvicorn()
        self.app = create_app(get_storage(storage), api_key=api_key, warm_up=True)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Open long polls would otherwise hold the shutdown.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> DashboardThread:
        """Start serving; wait until connections are accepted.

        Raises:
            RuntimeError: The server did not start within ``timeout`` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the dashboard on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; wait up to ``timeout`` seconds for the thread."""
        self.app.state.dashboard.closing = True
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> DashboardThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
