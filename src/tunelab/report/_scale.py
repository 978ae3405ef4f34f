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


def nice_step(span: float, target: int = _TARGET_TICKS) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``target`` ticks."""
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in _NICE_MULTIPLES:
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
    """Maps ``[lo, hi]`` (widened to round numbers if ``nice``) linearly onto pixels."""

    kind: ScaleKind = "linear"

    def __init__(self, lo: float, hi: float, r0: float, r1: float, *, nice: bool = True) -> None:
        if hi <= lo:
            # A flat range (one value) still needs a visible extent around it.
            pad = abs(lo) * 0.1 if lo != 0 else 1.0
            lo, hi = lo - pad, hi + pad
        self.step = nice_step(hi - lo)
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
    """Maps ``[lo, hi]`` (widened to whole decades) onto pixels, logarithmically."""

    kind: ScaleKind = "log"

    def __init__(self, lo: float, hi: float, r0: float, r1: float) -> None:
        if not (lo > 0 and hi > 0):
            raise ValueError(f"a log axis needs positive bounds, got lo={lo!r}, hi={hi!r}")
        self.lo_exp = math.floor(math.log10(lo) + 1e-9)
        self.hi_exp = math.ceil(math.log10(hi) - 1e-9)
        if self.hi_exp <= self.lo_exp:
            self.hi_exp = self.lo_exp + 1
        self.r0, self.r1 = r0, r1

    def accepts(self, value: float) -> bool:
        """Whether ``value`` can be placed on this axis (finite and positive)."""
        return math.isfinite(value) and value > 0

    def __call__(self, value: float) -> float:
        frac = (math.log10(value) - self.lo_exp) / (self.hi_exp - self.lo_exp)
        return self.r0 + frac * (self.r1 - self.r0)

    def ticks(self) -> list[Tick]:
        """Powers of ten (every k-th decade on wide axes), labelled."""
        every = max(1, math.ceil((self.hi_exp - self.lo_exp) / _TARGET_TICKS))
        exps = range(self.lo_exp, self.hi_exp + 1, every)
        return [Tick(10.0**e, _power_label(e), self(10.0**e)) for e in exps]

    def minor_ticks(self) -> list[float]:
        """Pixels of 2..9 times each power of ten, on axes narrow enough to show them."""
        if self.hi_exp - self.lo_exp > _MINOR_DECADES:
            return []
        return [self(m * 10.0**e) for e in range(self.lo_exp, self.hi_exp) for m in range(2, 10)]


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
) -> Scale:
    """A scale of ``kind`` covering ``values`` (or exactly ``fixed``) on pixels ``[r0, r1]``.

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
    return LinearScale(lo, hi, r0, r1, nice=fixed is None)
