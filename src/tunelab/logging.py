"""The ``tunelab`` logger and its verbosity.

tunelab logs through the standard :mod:`logging` module under the ``tunelab``
name. By default only warnings and errors are shown (on stderr); raise the
verbosity to see every finished trial::

    tunelab.logging.set_verbosity(tunelab.logging.INFO)
"""

from __future__ import annotations

import logging as _logging
import threading

CRITICAL = _logging.CRITICAL
FATAL = _logging.FATAL
ERROR = _logging.ERROR
WARNING = _logging.WARNING
WARN = _logging.WARN
INFO = _logging.INFO
DEBUG = _logging.DEBUG

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "FATAL",
    "INFO",
    "WARN",
    "WARNING",
    "disable_default_handler",
    "disable_propagation",
    "enable_default_handler",
    "enable_propagation",
    "get_logger",
    "get_verbosity",
    "set_verbosity",
]

_lock = threading.Lock()
_handler: _logging.Handler | None = None


def _root() -> _logging.Logger:
    global _handler
    logger = _logging.getLogger("tunelab")
    with _lock:
        if _handler is None:
            _handler = _logging.StreamHandler()
            _handler.setFormatter(_logging.Formatter("[tunelab %(levelname)s] %(message)s"))
            logger.addHandler(_handler)
            logger.setLevel(WARNING)
            logger.propagate = False
    return logger


def get_logger(name: str) -> _logging.Logger:
    """The logger for a tunelab module (a child of ``tunelab``)."""
    _root()
    return _logging.getLogger(name)


def set_verbosity(level: int) -> None:
    """Show tunelab messages at ``level`` and above (e.g. ``tunelab.logging.INFO``)."""
    _root().setLevel(level)


def get_verbosity() -> int:
    """The current level of the ``tunelab`` logger."""
    return _root().level


def disable_default_handler() -> None:
    """Stop writing to stderr, e.g. to route tunelab's records through your own handlers."""
    logger = _root()
    if _handler is not None:
        logger.removeHandler(_handler)
    logger.propagate = True


def enable_default_handler() -> None:
    """Write tunelab's records to stderr again (the default)."""
    logger = _root()
    if _handler is not None and _handler not in logger.handlers:
        logger.addHandler(_handler)


def enable_propagation() -> None:
    """Pass tunelab's records on to the root logger's handlers as well.

    Combine with :func:`disable_default_handler` to avoid printing them twice.
    """
    _root().propagate = True


def disable_propagation() -> None:
    """Keep tunelab's records away from the root logger's handlers (the default)."""
    _root().propagate = False
