"""``tunelab dashboard [STORAGE_URL]``: the live web dashboard of a storage's studies."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from tunelab.cli._common import DEFAULT_STORAGE, CommandError, open_existing_storage, stdout


def dashboard(
    storage_url: Annotated[
        str | None,
        typer.Argument(
            help="Database URL of the studies (default: $TUNELAB_STORAGE or sqlite:///tunelab.db).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8080,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="Key the write actions (enqueue, mark failed, notes) need; "
            "without one the dashboard is read-only.",
            envvar="TUNELAB_API_KEY",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    """Serve a live web dashboard of the studies in a storage (SQLite, PostgreSQL)."""
    try:
        from tunelab.dashboard import run_dashboard
    except ImportError as exc:
        raise CommandError(f"{exc}; install it with: pip install 'tunelab[dashboard]'") from None
    url = storage_url or os.environ.get("TUNELAB_STORAGE") or DEFAULT_STORAGE
    storage = open_existing_storage(url)
    mode = "writable with the API key" if api_key else "read-only"
    stdout().print(escape(f"tunelab dashboard on http://{host}:{port} ({mode})"), highlight=False)
    run_dashboard(storage, host=host, port=port, api_key=api_key)


def register(app: typer.Typer) -> None:
    """Add ``tunelab dashboard`` to ``app``."""
    app.command("dashboard")(dashboard)
