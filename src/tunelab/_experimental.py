"""Decorators marking a plugin's functions and classes experimental (Optuna's ``_experimental``).

Optuna plugins (``optuna-integration``, OptunaHub packages) mark their own
features with ``experimental_func(version)`` and ``experimental_class(version)``;
with this module they import and behave the same against tunelab: calling the
feature warns with :class:`~tunelab.exceptions.ExperimentalWarning`, and its
docstring gains a note.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from tunelab.exceptions import ExperimentalWarning

_T = TypeVar("_T")

_EXPERIMENTAL_NOTE_TEMPLATE = """

    .. note::
        Experimental since v{ver}: the interface may change in a later version.
"""

_VERSION = re.compile(r"\d+\.\d+\.\d+")


def check_version(version: Any, argument: str = "version") -> tuple[int, ...]:
    """The parts of a ``"major.minor.patch"`` version string.

    Raises:
        ValueError: ``version`` is not such a string; the message names ``argument``.
    """
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"{argument} must be a string like '1.2.0', got {version!r}")
    return tuple(int(part) for part in version.split("."))


def with_note(doc: str | None, note: str) -> str:
    """``doc`` with ``note`` appended (the note alone for an undocumented object)."""
    return note if not doc else doc.rstrip() + "\n" + note


def warn_on_call(func: Callable[..., _T], warn: Callable[[], None], note: str) -> Callable[..., _T]:
    """``func`` calling ``warn`` before it runs, with ``note`` added to its docstring.

    ``warn`` is called straight from the wrapper (pass a :func:`functools.partial`, not
    a lambda): ``stacklevel=3`` in it then points at the caller of ``func``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        warn()
        return func(*args, **kwargs)

    wrapper.__doc__ = with_note(func.__doc__, note)
    return wrapper


def warn_on_init(cls: type[_T], warn: Callable[[], None], note: str) -> type[_T]:
    """``cls`` calling ``warn`` whenever an instance is made, with ``note`` in its docstring
    (``warn`` as for :func:`warn_on_call`)."""
    init = cls.__init__

    @functools.wraps(init)
    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        warn()
        init(self, *args, **kwargs)

    cls.__init__ = wrapped_init  # type: ignore[method-assign]
    cls.__doc__ = with_note(cls.__doc__, note)
    return cls


def _warn(name: str, version: str) -> None:
    warnings.warn(
        f"{name} is experimental (since v{version}): its interface may change in a later version.",
        ExperimentalWarning,
        stacklevel=3,
    )


def experimental_func(
    version: str, name: str | None = None
) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Mark a function or method experimental from ``version`` on.

    Args:
        version: The version that introduced it, ``"major.minor.patch"``.
        name: The name the warning shows; the function's own by default.

    Raises:
        ValueError: ``version`` is not a version string.
    """
    check_version(version)
    note = _EXPERIMENTAL_NOTE_TEMPLATE.format(ver=version)

    def decorator(func: Callable[..., _T]) -> Callable[..., _T]:
        return warn_on_call(func, functools.partial(_warn, name or func.__name__, version), note)

    return decorator


def experimental_class(version: str, name: str | None = None) -> Callable[[type[_T]], type[_T]]:
    """Mark a class experimental from ``version`` on: creating an instance warns.

    Args:
        version: The version that introduced it, ``"major.minor.patch"``.
        name: The name the warning shows; the class's own by default.

    Raises:
        ValueError: ``version`` is not a version string.
    """
    check_version(version)
    note = _EXPERIMENTAL_NOTE_TEMPLATE.format(ver=version)

    def decorator(cls: type[_T]) -> type[_T]:
        return warn_on_init(cls, functools.partial(_warn, name or cls.__name__, version), note)

    return decorator


def warn_experimental_argument(option_name: str) -> None:
    """Warn that the argument ``option_name`` is experimental.

    Args:
        option_name: The argument's name, as the user wrote it.
    """
    warnings.warn(
        f"argument {option_name} is experimental: its meaning may change in a later version.",
        ExperimentalWarning,
        stacklevel=2,
    )
