"""Optional dependencies: imported on first use, with the extra that installs them named."""

from __future__ import annotations

import importlib
from types import ModuleType, TracebackType


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


class DeferredImport:
    """Holds back the error of an optional import until the feature needing it runs.

    Plugin modules written for Optuna guard their optional imports with
    ``with try_import() as imports: import lightgbm`` and call
    ``imports.check()`` where the package is needed; this is that context
    manager, so they import unchanged against tunelab.
    """

    def __init__(self) -> None:
        self._error: ImportError | SyntaxError | None = None
        self._message = ""

    def __enter__(self) -> DeferredImport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(exc, ImportError):
            self._error = exc
            self._message = (
                f"{exc.name or 'a package'} could not be imported, and this feature needs it; "
                f"install it (import error: {exc})"
            )
            return True
        if isinstance(exc, SyntaxError):
            # A package written for a newer Python fails to compile rather than to import.
            self._error = exc
            self._message = (
                f"a package could not be imported: {exc.filename} has a syntax error for this "
                f"Python version ({exc})"
            )
            return True
        return False  # other errors are the caller's to see

    def is_successful(self) -> bool:
        """Whether the guarded imports all succeeded."""
        return self._error is None

    def check(self) -> None:
        """Raise the held-back error, if an import failed.

        Raises:
            ImportError: An import in the block failed; the original error is chained.
        """
        if self._error is not None:
            raise ImportError(self._message) from self._error


def try_import() -> DeferredImport:
    """A context manager that holds back import errors (Optuna's ``optuna._imports.try_import``).

    Returns:
        A fresh :class:`DeferredImport`.
    """
    return DeferredImport()
