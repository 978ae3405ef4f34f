"""Argument checks for the PyTorch helpers; every error names the argument."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_number(name: str, value: Any, *, minimum: float, inclusive: bool = True) -> float:
    """``value`` as a float, or a ValueError naming ``name`` and the accepted range."""
    bound = f">= {minimum}" if inclusive else f"> {minimum}"
    if not _is_real(value):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    number = float(value)
    in_range = number >= minimum if inclusive else number > minimum
    if not (math.isfinite(number) and in_range):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_range(
    name: str, bounds: Any, *, positive: bool = False, below_one: bool = False
) -> tuple[float, float]:
    """A ``(low, high)`` pair with ``0 <= low <= high`` (``0 < low`` when ``positive``,
    ``high < 1`` when ``below_one``), or a ValueError naming ``name``."""
    lower = "0 < low" if positive else "0 <= low"
    upper = " < 1" if below_one else ""
    expected = f"a pair (low, high) with {lower} <= high{upper}"
    pair = tuple(bounds) if isinstance(bounds, tuple | list) else ()
    if len(pair) != 2 or not all(_is_real(bound) for bound in pair):
        raise ValueError(f"{name} must be {expected}, got {bounds!r}")
    low, high = float(pair[0]), float(pair[1])
    valid = math.isfinite(low) and math.isfinite(high) and 0 <= low <= high
    if not valid or (positive and low <= 0) or (below_one and high >= 1):
        raise ValueError(f"{name} must be {expected}, got {bounds!r}")
    return low, high


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
