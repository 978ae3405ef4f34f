"""HTTP serving: Open Inference Protocol v2, a plain ``/predict`` endpoint and metrics.

Needs the ``serve`` extra (``pip install 'tunelab[serve]'``); importing this package
without it raises an ImportError that says so.
"""

from __future__ import annotations

from tunelab.deploy.serve._app import ServerApp, create_app
from tunelab.deploy.serve._limits import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_BODY_BYTES, Limits
from tunelab.deploy.serve._runner import HTTP_PROTOCOL, ServerThread, app_from_env, serve

__all__ = [
    "DEFAULT_MAX_BATCH_ROWS",
    "DEFAULT_MAX_BODY_BYTES",
    "HTTP_PROTOCOL",
    "Limits",
    "ServerApp",
    "ServerThread",
    "app_from_env",
    "create_app",
    "serve",
]
