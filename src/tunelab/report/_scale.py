"""Axis scales for the SVG plots: data values to pixels, and readable tick positions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ScaleKind = Literal["linear", "log", "category"]
SCALE_KINDS: tuple[str, ...] = ("linear", "log", "category")

# Multiples of a power of ten that people read as round numbers.
_NICE_MULTIPLES = (1.0, 2.0, 2.5, 5.0, 10.0)
# Integer axes skip 2.5, whose multiples would put ticks between whole numbers.
_INTEGER_MULTIPLES = (1.0, 2.0, 5.0, 10.0)
# Tick mantissas tried in turn on a log axis too narrow for enough powers of ten.
_LOG_MANTISSAS = ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0))
_MIN_LOG_TICKS = 3
_TARGET_TICKS = 6
# Decades shown with unlabelled 2..9 minor ticks; wider log axes would be cluttered.
_MINOR_DECADES = 3
# A linear axis is widened to round ends only when that adds at most this share of its span.
_ROUND_OUT_SLACK = 0.1


@dataclass(frozen=True)
class Tick:
    """One labelled position on an axis."""

    value: float
    label: str
    pixel: float


def finite(values: Iterable[float]) -> list[float]:
    """The finite numbers among ``values`` (NaN and ±inf dropped)."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def nice_step(span: float, target: int = _TARGET_TICKS, *, integer: bool = False) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``target`` ticks.

    With ``integer`` the step is a whole number (1, 2 or 5 times a power of ten, at least 1).
    """
    raw = span / max(target, 1)
    if integer and raw <= 1.0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in _INTEGER_MULTIPLES if integer else _NICE_MULTIPLES:
        if raw <= multiple * magnitude * (1.0 + 1e-9):
            return multiple * magnitude
    return 10.0 * magnitude


def format_number(value: float, step: float | None = None) -> str:
    """A short label: as many decimals as ``step`` needs, scientific when very large/small."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e6 or magnitude < 1e-4:
        return f"{value:.3g}"
    if step is None:
        return f"{value:.4g}"
    exponent = math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10.0**exponent
    # A 2.5 step needs one decimal more than its power of ten suggests.
    extra = 0 if math.isclose(mantissa, round(mantissa)) else 1
    return f"{value:.{max(0, extra - exponent)}f}"


class LinearScale:
    """Maps ``[lo, hi]`` (widened to round numbers if ``nice``) linearly onto pixels.

    An ``integer`` axis (an integer parameter) is ticked at whole numbers only.
    """

    kind: ScaleKind = "linear"

    def __init__(
        self,
        lo: float,
        hi: float,
        r0: float,
        r1: float,
        *,
        nice: bool = True,
        integer: bool = False,
    ) -> None:
        if hi <= lo:
            # A flat range (one value) still needs a visible extent around it.
            pad = abs(lo) * 0.1 if lo != 0 else 1.0
            lo, hi = lo - pad, hi + pad
        self.step = nice_step(hi - lo, integer=integer)
        if nice:
            lo, hi = _round_out(lo, hi, self.step)
        self.lo, self.hi, self.r0, self.r1 = lo, hi, r0, r1

    def accepts(self, value: float) -> bool:
        """Whether ``value`` can be placed on this axis."""
        return math.isfinite(value)

    def __call__(self, value: float) -> float:
        return self.r0 + (value - self.lo) / (self.hi - self.lo) * (self.r1 - self.r0)

    def ticks(self) -> list[Tick]:
        """Round values inside the domain, with labels."""
        first = math.ceil(self.lo / self.step - 1e-9)
        last = math.floor(self.hi / self.step + 1e-9)
        values = [k * self.step for k in range(first, last + 1)]
        return [Tick(v, format_number(v, self.step), self(v)) for v in values]

    def minor_ticks(self) -> list[float]:
        """Pixels of unlabelled ticks (none on linear axes)."""
        return []


def _round_out(lo: float, hi: float, step: float) -> tuple[float, float]:
    """Widen each end to a multiple of ``step`` unless that adds much empty space."""
    slack = _ROUND_OUT_SLACK * (hi - lo)
    nice_lo = math.floor(lo / step + 1e-9) * step
    nice_hi = math.ceil(hi / step - 1e-9) * step
    return (nice_lo if lo - nice_lo <= slack else lo, nice_hi if nice_hi - hi <= slack else hi)


class LogScale:
    """Maps ``[lo, hi]`` onto pixels logarithmically, ticked at round values inside it.

    Ticks are powers of ten when the range holds enough of them, else 1-3, 1-2-5 or
    1-2-3-5 multiples of them (a 10–300 axis reads 10, 30, 100, 300), so the axis
    ends at the data instead of at the next power of ten.
    """

    kind: ScaleKind = "log"

    def __init__(self, lo: float, hi: float, r0: float, r1: float) -> None:
        if not (lo > 0 and hi > 0):
            raise ValueError(f"a log axis needs positive bounds, got lo={lo!r}, hi={hi!r}")
        if hi <= lo:
            lo, hi = lo / math.sqrt(10.0), hi * math.sqrt(10.0)
        self.lo, self.hi, self.r0, self.r1 = lo, hi, r0, r1
        self.lo_exp = math.floor(math.log10(lo) + 1e-9)
        self.hi_exp = math.ceil(math.log10(hi) - 1e-9)

    def accepts(self, value: float) -> bool:
        """Whether ``value`` can be placed on this axis (finite and positive)."""
        return math.isfinite(value) and value > 0

    def __call__(self, value: float) -> float:
        lo, hi = math.log10(self.lo), math.log10(self.hi)
        return self.r0 + (math.log10(value) - lo) / (hi - lo) * (self.r1 - self.r0)

    def _inside(self, value: float) -> bool:
        return self.lo * (1 - 1e-9) <= value <= self.hi * (1 + 1e-9)

    def ticks(self) -> list[Tick]:
        """Round values inside the domain, labelled (every k-th decade on wide axes)."""
        every = max(1, math.ceil((self.hi_exp - self.lo_exp) / _TARGET_TICKS))
        values: list[float] = []
        for mantissas in _LOG_MANTISSAS:
            values = [
                m * 10.0**e
                for e in range(self.lo_exp, self.hi_exp + 1, every)
                for m in mantissas
                if self._inside(m * 10.0**e)
            ]
            if len(values) >= _MIN_LOG_TICKS or every > 1:
                break
        if len(values) < 2:
            # Less than a factor of ~1.7 between the ends: round values of a linear step.
            step = nice_step(self.hi - self.lo, 4)
            first = math.ceil(self.lo / step - 1e-9)
            values = [k * step for k in range(first, math.floor(self.hi / step + 1e-9) + 1)]
        return [Tick(v, _log_label(v), self(v)) for v in values]

    def minor_ticks(self) -> list[float]:
        """Pixels of 2..9 times each power of ten, on axes narrow enough to show them."""
        if self.hi_exp - self.lo_exp > _MINOR_DECADES:
            return []
        return [
            self(m * 10.0**e)
            for e in range(self.lo_exp, self.hi_exp)
            for m in range(2, 10)
            if self._inside(m * 10.0**e)
        ]


def _log_label(value: float) -> str:
    exp = math.log10(value)
    if math.isclose(exp, round(exp), abs_tol=1e-9):
        return _power_label(round(exp))
    return format_number(value)


def _power_label(exp: int) -> str:
    if -3 <= exp <= 4:
        return format_number(10.0**exp, 10.0**exp)
    return f"1e{exp}"


class CategoryScale:
    """Places ``labels`` at evenly spaced band centres across pixels ``[r0, r1]``."""

    kind: ScaleKind = "category"

    def __init__(self, labels: Sequence[str], r0: float, r1: float) -> None:
        self.labels = list(labels) or [""]
        self.r0, self.r1 = r0, r1

    def accepts(self, value: float) -> bool:
        """Whether ``value`` falls in a category's band (its index, give or take jitter)."""
        return math.isfinite(value) and -0.5 <= value < len(self.labels) - 0.5

    def __call__(self, value: float) -> float:
        return self.r0 + (value + 0.5) / len(self.labels) * (self.r1 - self.r0)

    def ticks(self) -> list[Tick]:
        """One tick per category, labelled with it."""
        return [Tick(float(i), label, self(i)) for i, label in enumerate(self.labels)]

    def minor_ticks(self) -> list[float]:
        """Pixels of unlabelled ticks (none on category axes)."""
        return []


Scale = LinearScale | LogScale | CategoryScale


def make_scale(
    kind: str,
    values: Iterable[float],
    r0: float,
    r1: float,
    *,
    fixed: tuple[float, float] | None = None,
    categories: Sequence[str] | None = None,
    integer: bool = False,
) -> Scale:
    """A scale of ``kind`` covering ``values`` (or exactly ``fixed``) on pixels ``[r0, r1]``.

    ``integer`` ticks a linear axis at whole numbers only.

    Raises:
        ValueError: ``kind`` is not 'linear', 'log' or 'category'.
    """
    if kind == "category":
        return CategoryScale(categories or [], r0, r1)
    if kind not in SCALE_KINDS:
        raise ValueError(f"scale kind must be one of {SCALE_KINDS}, got {kind!r}")
    if fixed is not None:
        lo, hi = fixed
    else:
        usable = [v for v in finite(values) if kind == "linear" or v > 0]
        lo, hi = (min(usable), max(usable)) if usable else (1.0, 10.0) if kind == "log" else (0, 1)
    if kind == "log":
        return LogScale(lo, hi, r0, r1)
    return LinearScale(lo, hi, r0, r1, nice=fixed is None, integer=integer)
