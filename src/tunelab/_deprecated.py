"""Decorators marking a plugin's functions and classes deprecated (Optuna's ``_deprecated``).

Optuna plugins mark their own outgoing features with
``deprecated_func(deprecated_version, removed_version)`` and
``deprecated_class(...)``; with this module they import and behave the same
against tunelab: calling the feature warns with a ``FutureWarning`` naming both
versions, and its docstring gains a note.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from tunelab._experimental import check_version, warn_on_call, warn_on_init

_T = TypeVar("_T")

_DEPRECATION_NOTE_TEMPLATE = """

    .. warning::
        Deprecated since v{d_ver}; to be removed in v{r_ver}."""

_DEPRECATION_WARNING_TEMPLATE = "{name} is deprecated since v{d_ver} and to be removed in v{r_ver}."


def _check_versions(deprecated_version: Any, removed_version: Any) -> None:
    deprecated = check_version(deprecated_version, "deprecated_version")
    removed = check_version(removed_version, "removed_version")
    if removed <= deprecated:
        raise ValueError(
            f"removed_version ({removed_version}) must come after deprecated_version "
            f"({deprecated_version})"
        )


def _note(deprecated_version: str, removed_version: str, text: str | None) -> str:
    note = _DEPRECATION_NOTE_TEMPLATE.format(d_ver=deprecated_version, r_ver=removed_version)
    if text is None:
        return note
    # The text is a paragraph of its own after the warning box.
    return note + "\n\n" + (f"    {text}" if text else "") + "\n"


def _message(name: str, deprecated_version: str, removed_version: str, text: str | None) -> str:
    message = _DEPRECATION_WARNING_TEMPLATE.format(
        name=name, d_ver=deprecated_version, r_ver=removed_version
    )
    return message if text is None else f"{message} {text}"


def deprecated_func(
    deprecated_version: str,
    removed_version: str,
    name: str | None = None,
    text: str | None = None,
) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Mark a function or method deprecated.

    Args:
        deprecated_version: The version that deprecated it, ``"major.minor.patch"``.
        removed_version: The version that removes it, after ``deprecated_version``.
        name: The name the warning shows; the function's own by default.
        text: What to use instead, added to the warning and the docstring.

    Raises:
        ValueError: A version is not a version string, or the removal does not
            come after the deprecation.
    """
    _check_versions(deprecated_version, removed_version)
    note = _note(deprecated_version, removed_version, text)

    def decorator(func: Callable[..., _T]) -> Callable[..., _T]:
        message = _message(name or func.__name__, deprecated_version, removed_version, text)
        return warn_on_call(func, functools.partial(_warn, message), note)

    return decorator


def deprecated_class(
    deprecated_version: str,
    removed_version: str,
    name: str | None = None,
    text: str | None = None,
) -> Callable[[type[_T]], type[_T]]:
    """Mark a class deprecated: creating an instance warns.

    Args:
        deprecated_version: The version that deprecated it, ``"major.minor.patch"``.
        removed_version: The version that removes it, after ``deprecated_version``.
        name: The name the warning shows; the class's own by default.
        text: What to use instead, added to the warning and the docstring.

    Raises:
        ValueError: A version is not a version string, or the removal does not
            come after the deprecation.
    """
    _check_versions(deprecated_version, removed_version)
    note = _note(deprecated_version, removed_version, text)

    def decorator(cls: type[_T]) -> type[_T]:
        message = _message(name or cls.__name__, deprecated_version, removed_version, text)
        return warn_on_init(cls, functools.partial(_warn, message), note)

    return decorator


def _warn(message: str) -> None:
    # Called from the wrapper: stacklevel 3 is the deprecated feature's caller.
    warnings.warn(message, FutureWarning, stacklevel=3)
