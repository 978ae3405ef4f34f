"""SVG primitives shared by the plots: colours, text, coordinates, axes, legends, colour bars.

Every plot is plain inline SVG: no scripts, fonts, images or ids, so any number of
plots can share one HTML page and the page renders the same in a browser, a mail
client or on paper. Tooltips are ``<title>`` children, which browsers show on hover.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.report._scale import Scale

# A colour-blind-friendly qualitative palette (series, folds, classes).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
# Anchor colours of a perceptually uniform dark-purple → yellow sequential map.
_SEQUENTIAL = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
MUTED = "#9aa0a6"
FAIL_RED = "#c0392b"
FONT_SIZE = 11
# Average advance of one character at FONT_SIZE in a sans-serif font, for layout only.
CHAR_WIDTH = 6.4
_COLORBAR_STEPS = 24


def esc(text: object) -> str:
    """Text escaped for SVG/HTML content and attribute values."""
    return html.escape(str(text), quote=True)


def px(value: float) -> str:
    """A pixel coordinate for an attribute; never 'nan' or 'inf'.

    Raises:
        ValueError: ``value`` is not finite (a plot must drop such points before drawing).
    """
    if not math.isfinite(value):
        raise ValueError(f"pixel coordinate must be finite, got {value!r}")
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def palette(index: int) -> str:
    """The ``index``-th qualitative colour (cycling)."""
    return PALETTE[index % len(PALETTE)]


def sequential_color(t: float) -> str:
    """Colour of ``t`` in [0, 1] on the sequential map (NaN maps to grey)."""
    if not math.isfinite(t):
        return MUTED
    t = min(1.0, max(0.0, t)) * (len(_SEQUENTIAL) - 1)
    i = min(int(t), len(_SEQUENTIAL) - 2)
    frac = t - i
    rgb = (
        round(a + (b - a) * frac) for a, b in zip(_SEQUENTIAL[i], _SEQUENTIAL[i + 1], strict=True)
    )
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def normalise(values: Sequence[float]) -> list[float]:
    """``values`` rescaled to [0, 1] by their finite min and max (all 0.5 when flat)."""
    good = [v for v in values if math.isfinite(v)]
    if not good:
        return [math.nan] * len(values)
    lo, hi = min(good), max(good)
    if hi == lo:
        return [0.5 if math.isfinite(v) else math.nan for v in values]
    return [(v - lo) / (hi - lo) if math.isfinite(v) else math.nan for v in values]


def truncate(label: str, max_chars: int) -> str:
    """``label`` cut to ``max_chars`` with an ellipsis."""
    max_chars = max(max_chars, 2)
    return label if len(label) <= max_chars else label[: max_chars - 1] + "…"


def text_width(label: str) -> float:
    """Estimated rendered width of ``label`` in pixels."""
    return len(label) * CHAR_WIDTH


def tooltip(text: str | None) -> str:
    """A ``<title>`` child (hover tooltip), or nothing."""
    return f"<title>{esc(text)}</title>" if text else ""


def text(
    x: float, y: float, label: str, *, anchor: str = "start", css: str = "", rotate: bool = False
) -> str:
    """A text element; ``rotate`` turns it to read bottom-to-top."""
    transform = f' transform="rotate(-90 {px(x)} {px(y)})"' if rotate else ""
    cls = f' class="{css}"' if css else ""
    return (
        f'<text x="{px(x)}" y="{px(y)}" text-anchor="{anchor}"{cls}{transform}>{esc(label)}</text>'
    )


def open_svg(name: str, title: str, width: float, height: float) -> str:
    """The opening tag of a plot, with its accessible title."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{esc(name)}" '
        f'width="{px(width)}" height="{px(height)}" viewBox="0 0 {px(width)} {px(height)}" '
        f'role="img" aria-label="{esc(title)}" font-family="sans-serif" '
        f'font-size="{FONT_SIZE}"><title>{esc(title)}</title>'
    )


@dataclass(frozen=True)
class Box:
    """The plotting area of a chart, in pixels (y grows downwards)."""

    left: float
    top: float
    right: float
    bottom: float


def x_axis(scale: Scale, box: Box, *, grid: bool = True) -> str:
    """Tick marks, labels and vertical grid lines of a horizontal axis under ``box``."""
    parts = ['<g class="axis x-axis" stroke="#555">']
    ticks = scale.ticks()
    band = (box.right - box.left) / max(len(ticks), 1)
    max_chars = int(band / CHAR_WIDTH) if scale.kind == "category" else 12
    for tick in ticks:
        x = px(tick.pixel)
        if grid:
            parts.append(
                f'<line class="grid" x1="{x}" x2="{x}" y1="{px(box.top)}" '
                f'y2="{px(box.bottom)}" stroke="#e6e6e6"/>'
            )
        parts.append(f'<line x1="{x}" x2="{x}" y1="{px(box.bottom)}" y2="{px(box.bottom + 4)}"/>')
        label = truncate(tick.label, max_chars)
        parts.append(
            f'<text class="tick" data-value="{tick.value!r}" x="{x}" y="{px(box.bottom + 16)}" '
            f'text-anchor="middle" stroke="none" fill="#333">{esc(label)}'
            f"{tooltip(tick.label if label != tick.label else None)}</text>"
        )
    parts.extend(_minor(scale, box, vertical=False))
    parts.append("</g>")
    return "".join(parts)


def y_axis(scale: Scale, box: Box, *, grid: bool = True, max_chars: int = 12) -> str:
    """Tick marks, labels and horizontal grid lines of a vertical axis left of ``box``."""
    parts = ['<g class="axis y-axis" stroke="#555">']
    for tick in scale.ticks():
        y = px(tick.pixel)
        if grid:
            parts.append(
                f'<line class="grid" x1="{px(box.left)}" x2="{px(box.right)}" y1="{y}" '
                f'y2="{y}" stroke="#e6e6e6"/>'
            )
        parts.append(f'<line x1="{px(box.left - 4)}" x2="{px(box.left)}" y1="{y}" y2="{y}"/>')
        label = truncate(tick.label, max_chars)
        parts.append(
            f'<text class="tick" data-value="{tick.value!r}" x="{px(box.left - 7)}" '
            f'y="{px(tick.pixel + 4)}" text-anchor="end" stroke="none" fill="#333">'
            f"{esc(label)}{tooltip(tick.label if label != tick.label else None)}</text>"
        )
    parts.extend(_minor(scale, box, vertical=True))
    parts.append("</g>")
    return "".join(parts)


def _minor(scale: Scale, box: Box, *, vertical: bool) -> list[str]:
    if vertical:
        return [
            f'<line x1="{px(box.left - 2)}" x2="{px(box.left)}" y1="{px(p)}" y2="{px(p)}"/>'
            for p in scale.minor_ticks()
        ]
    return [
        f'<line x1="{px(p)}" x2="{px(p)}" y1="{px(box.bottom)}" y2="{px(box.bottom + 2)}"/>'
        for p in scale.minor_ticks()
    ]


def frame(box: Box) -> str:
    """The outline of the plotting area."""
    return (
        f'<rect class="frame" x="{px(box.left)}" y="{px(box.top)}" '
        f'width="{px(box.right - box.left)}" height="{px(box.bottom - box.top)}" '
        'fill="none" stroke="#bbb"/>'
    )


@dataclass(frozen=True)
class LegendItem:
    """One legend entry: a swatch drawn as a line, a point or a cross."""

    label: str
    color: str
    swatch: str = "line"
    dash: str | None = None


_LEGEND_ROW = 18.0


def legend_height(items: Sequence[LegendItem], width: float) -> float:
    """Pixels the legend takes when wrapped into rows of ``width``."""
    return _LEGEND_ROW * len(_legend_rows(items, width)) if items else 0.0


def _legend_rows(items: Sequence[LegendItem], width: float) -> list[list[LegendItem]]:
    rows: list[list[LegendItem]] = [[]]
    used = 0.0
    for item in items:
        need = _item_width(item)
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += need
    return rows


def _item_width(item: LegendItem) -> float:
    return 34.0 + text_width(item.label)


def legend(items: Sequence[LegendItem], left: float, top: float, width: float) -> str:
    """Legend entries wrapped into rows starting at (``left``, ``top``)."""
    if not items:
        return ""
    parts = ['<g class="legend">']
    for r, row in enumerate(_legend_rows(items, width)):
        x, y = left, top + r * _LEGEND_ROW + _LEGEND_ROW / 2
        for item in row:
            parts.append(_swatch(item, x, y))
            parts.append(
                f'<text x="{px(x + 24)}" y="{px(y + 4)}" fill="#333">{esc(item.label)}</text>'
            )
            x += _item_width(item)
    parts.append("</g>")
    return "".join(parts)


def _swatch(item: LegendItem, x: float, y: float) -> str:
    if item.swatch == "point":
        return f'<circle cx="{px(x + 10)}" cy="{px(y)}" r="4" fill="{item.color}"/>'
    if item.swatch == "cross":
        return cross(x + 10, y, 4, item.color, css="swatch")
    if item.swatch == "rug":
        return triangle(x + 10, y + 4, item.color, css="swatch")
    dash = f' stroke-dasharray="{item.dash}"' if item.dash else ""
    return (
        f'<line x1="{px(x)}" x2="{px(x + 20)}" y1="{px(y)}" y2="{px(y)}" '
        f'stroke="{item.color}" stroke-width="2"{dash}/>'
    )


def cross(x: float, y: float, r: float, color: str, *, css: str, title: str | None = None) -> str:
    """An × marker centred on (``x``, ``y``)."""
    d = (
        f"M{px(x - r)} {px(y - r)}L{px(x + r)} {px(y + r)}"
        f"M{px(x - r)} {px(y + r)}L{px(x + r)} {px(y - r)}"
    )
    return (
        f'<path class="{css}" d="{d}" stroke="{color}" stroke-width="1.6">{tooltip(title)}</path>'
    )


def triangle(x: float, y: float, color: str, *, css: str, title: str | None = None) -> str:
    """An upward triangle whose base sits at ``y`` (rug marks along the x axis)."""
    d = f"M{px(x)} {px(y - 7)}L{px(x - 4)} {px(y)}L{px(x + 4)} {px(y)}Z"
    return f'<path class="{css}" d="{d}" fill="{color}">{tooltip(title)}</path>'


@dataclass(frozen=True)
class Colorbar:
    """A vertical colour scale: ``lo`` at the bottom, ``hi`` at the top."""

    lo: float
    hi: float
    label: str


COLORBAR_WIDTH = 92.0
# The bar, the gap to its tick labels, and the room kept for the rotated title.
_BAR_WIDTH = 12.0
_TICK_GAP = 4.0
_TITLE_ROOM = 16.0


def colorbar(bar: Colorbar, x: float, box: Box, value_scale: Scale) -> str:
    """Stepped colour bar right of ``box``, labelled with ``value_scale``'s ticks.

    The title reads bottom-to-top beside the tick labels, so a long metric name fits
    the bar's height instead of running past the plot's right edge.
    """
    parts = ['<g class="colorbar">']
    height = (box.bottom - box.top) / _COLORBAR_STEPS
    for i in range(_COLORBAR_STEPS):
        t = (i + 0.5) / _COLORBAR_STEPS
        y = box.bottom - (i + 1) * height
        parts.append(
            f'<rect x="{px(x)}" y="{px(y)}" width="12" height="{px(height + 0.5)}" '
            f'fill="{sequential_color(t)}"/>'
        )
    ticks = value_scale.ticks()
    room = COLORBAR_WIDTH - _BAR_WIDTH - _TICK_GAP - _TITLE_ROOM - 14
    labels = [truncate(t.label, int(room / CHAR_WIDTH)) for t in ticks]
    for tick, label in zip(ticks, labels, strict=True):
        parts.append(
            f'<text x="{px(x + _BAR_WIDTH + _TICK_GAP)}" y="{px(tick.pixel + 4)}" '
            f'fill="#333">{esc(label)}</text>'
        )
    widest = max((text_width(label) for label in labels), default=0.0)
    title_x = x + _BAR_WIDTH + _TICK_GAP + widest + _TITLE_ROOM / 2 + 6
    title = truncate(bar.label, int((box.bottom - box.top) / CHAR_WIDTH))
    mid = (box.top + box.bottom) / 2
    parts.append(text(title_x, mid, title, anchor="middle", css="colorbar-title", rotate=True))
    parts.append("</g>")
    return "".join(parts)
