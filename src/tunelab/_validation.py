"""Argument checks shared by samplers, pruners and studies."""

from __future__ import annotations

import numbers
from typing import Any, TypeGuard


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
