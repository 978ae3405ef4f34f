"""Serving the dashboard with uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

from typing import Any

from tunelab._imports import optional_import
from tunelab.dashboard._app import create_app
from tunelab.deploy.serve._runner import ServerThread
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


class DashboardThread(ServerThread):
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
        self.app = create_app(get_storage(storage), api_key=api_key, warm_up=True)
        # Open long polls would otherwise hold the shutdown.
        super().__init__(
            self.app, host=host, port=port, lifespan="off", timeout_graceful_shutdown=1
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; wait up to ``timeout`` seconds for the thread."""
        self.app.state.dashboard.closing = True
        super().stop(timeout)
