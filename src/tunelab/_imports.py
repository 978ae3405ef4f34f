"""Optional dependencies: imported on first use, with the extra that installs them named."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_import(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or say which tunelab extra installs it.

    Args:
        module: Dotted module name (``"plotly.graph_objects"``).
        extra: The ``pip install 'tunelab[extra]'`` extra that brings it.
        purpose: What needs it, to start the message (``"interactive reports"``).

    Raises:
        ImportError: The module (or one it imports) is missing; the message
            names the missing package and the install command, and the
            original error is chained.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = _missing_name(exc) or module.split(".")[0]
        raise ImportError(
            f"{purpose}: {missing} is not installed; pip install 'tunelab[{extra}]'"
        ) from exc


def _missing_name(exc: BaseException | None) -> str | None:
    """The package an import error is about, through errors re-raised with a hint."""
    while exc is not None:
        if isinstance(exc, ImportError) and exc.name:
            return exc.name.split(".")[0]
        exc = exc.__cause__
    return None
