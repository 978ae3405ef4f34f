"""The ``tunelab`` command line; every command composes the public Python API."""

from __future__ import annotations

from tunelab.cli._app import app, main

__all__ = ["app", "main"]
