"""Argument checks shared by samplers, pruners and studies."""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard, TypeVar, cast

_F = TypeVar("_F", bound=Callable[..., Any])


def check_int(name: str, value: Any, minimum: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an integer >= ``minimum``.

    Booleans are refused: ``True`` is an int to Python but never a count.
    """
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def is_int(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is an integer (Python's or NumPy's) and not a bool.

    ``True`` is an ``int`` to Python but never a count, a seed or an index.
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a real number (int, float or NumPy's) and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positional_as_keywords(names: Sequence[str], *, since: str) -> Callable[[_F], _F]:
    """Let old code pass a function's first keyword-only arguments by position, with a warning.

    Optuna made some arguments keyword-only and accepts them by position, with a
    ``FutureWarning``, for a few versions; functions with the same names here do
    the same, so that code written for older Optuna versions runs.

    Args:
        names: The keyword-only arguments that used to be positional, in order.
        since: The Optuna version that deprecated passing them by position.
    """

    def decorator(func: _F) -> _F:
        fixed = 0  # parameters that stay positional (``self``)
        for param in inspect.signature(func).parameters.values():
            if param.kind != inspect.Parameter.POSITIONAL_OR_KEYWORD:
                break
            fixed += 1
        label = func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            extra = args[fixed:]
            if not extra:
                return func(*args, **kwargs)
            if len(extra) > len(names):
                raise TypeError(
                    f"{label}() takes at most {len(names)} arguments by position "
                    f"({', '.join(names)}), got {len(extra)}"
                )
            given = dict(zip(names, extra, strict=False))
            twice = sorted(given.keys() & kwargs.keys())
            if twice:
                raise TypeError(f"{label}() got {', '.join(twice)} both by position and by name")
            warnings.warn(
                f"{label}(): passing {', '.join(given)} by position is deprecated (in Optuna "
                f"since {since}); pass them by name",
                FutureWarning,
                stacklevel=2,
            )
            return func(*args[:fixed], **given, **kwargs)

        return cast("_F", wrapper)

    return decorator
