"""Parallel coordinates as inline SVG: one vertical axis per variable, one polyline per row."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunelab.report import _svg as svg
from tunelab.report._scale import LinearScale, Scale, Tick, make_scale

# Room between the last axis (its centred name) and the colour bar.
_RIGHT_GAP = 110.0
# The page's content width: a plot with few axes still spans it.
_MIN_WIDTH = 1140.0
_CHIP_HEIGHT = 16.0


@dataclass(frozen=True)
class ParallelAxis:
    """One vertical axis: its values per row (NaN where a row has none).

    Attributes:
        name: Axis title.
        kind: 'linear', 'log' or 'category' (values are then category indices).
        values: One value per row.
        categories: Labels of a category axis.
        bounds: Exact domain of a numeric axis instead of the data's range.
        integer: Whether the axis holds whole numbers (ticked at whole numbers only).
    """

    name: str
    kind: str
    values: tuple[float, ...]
    categories: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    integer: bool = False


class ParallelCoordinates:
    """Rows drawn as polylines across parallel axes, coloured by ``color_values``.

    A row skips the axes where it has no value and joins its neighbours instead, so
    every row is exactly one polyline. A category axis shows its labels in boxes on
    the axis; rows enter a box at its left edge and leave at its right edge, so no
    line ever runs across a label.

    Args:
        name: Identifies the plot in the page (``data-plot`` attribute).
        title: Heading drawn above the plot.
        axes: The axes, left to right, each with one value per row.
        color_values: The number that colours each row.
        color_label: Title of the colour bar.
        tooltips: Hover text of each row.
        best_high: Whether high ``color_values`` are best (best rows are drawn on top).
        height: Height in pixels.
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        axes: Sequence[ParallelAxis],
        color_values: Sequence[float],
        color_label: str,
        tooltips: Sequence[str] | None = None,
        best_high: bool = False,
        height: float = 380,
    ) -> None:
        n_rows = len(color_values)
        for axis in axes:
            if len(axis.values) != n_rows:
                raise ValueError(
                    f"axis {axis.name!r} has {len(axis.values)} values for {n_rows} rows"
                )
        self.name, self.title = name, title
        self.axes, self.color_values = list(axes), [float(v) for v in color_values]
        self.color_label, self.best_high, self.height = color_label, best_high, height
        self.tooltips = list(tooltips) if tooltips is not None else None

    @property
    def width(self) -> float:
        """Width in pixels: enough room between axes for their tick labels."""
        return max(_MIN_WIDTH, 130.0 * len(self.axes) + svg.COLORBAR_WIDTH + _RIGHT_GAP + 40)

    def to_svg(self) -> str:
        """The plot as one ``<svg>`` element."""
        left, right = 70.0, self.width - svg.COLORBAR_WIDTH - _RIGHT_GAP
        box = svg.Box(left, 62, right, self.height - 22)
        positions = self._positions(box)
        scales = [_axis_scale(a, box) for a in self.axes]
        parts = [svg.open_svg(self.name, self.title, self.width, self.height)]
        parts.append(svg.text(16, 18, self.title, css="plot-title"))
        spacing = (right - left) / max(len(self.axes) - 1, 1)
        halves = [_chip_half_width(a, spacing) for a in self.axes]
        parts.append(self._lines(positions, scales, halves))
        for axis, x, scale, half in zip(self.axes, positions, scales, halves, strict=True):
            parts.append(_draw_axis(axis, x, scale, box, spacing, half))
        lo, hi = _finite_bounds(self.color_values)
        bar_scale = LinearScale(lo, hi, box.bottom, box.top, nice=False)
        bar = svg.Colorbar(lo, hi, self.color_label)
        parts.append(svg.colorbar(bar, right + _RIGHT_GAP - 10, box, bar_scale))
        parts.append("</svg>")
        return "".join(parts)

    def _positions(self, box: svg.Box) -> list[float]:
        n = len(self.axes)
        if n == 1:
            return [(box.left + box.right) / 2]
        return [box.left + i * (box.right - box.left) / (n - 1) for i in range(n)]

    def _lines(self, positions: list[float], scales: list[Scale], halves: list[float]) -> str:
        shades = svg.normalise(self.color_values)

        def rank(row: int) -> float:
            shade = shades[row]
            if not math.isfinite(shade):
                return -math.inf
            return shade if self.best_high else -shade

        # Best rows last, so they are drawn over the crowd.
        order = sorted(range(len(shades)), key=rank)
        parts = ['<g class="lines" fill="none" stroke-width="1.4" stroke-opacity="0.7">']
        for row in order:
            points = []
            for axis, x, scale, half in zip(self.axes, positions, scales, halves, strict=True):
                if not scale.accepts(axis.values[row]):
                    continue
                y = svg.px(scale(axis.values[row]))
                if half:
                    points += [f"{svg.px(x - half)},{y}", f"{svg.px(x + half)},{y}"]
                else:
                    points.append(f"{svg.px(x)},{y}")
            tip = self.tooltips[row] if self.tooltips else None
            parts.append(
                f'<polyline class="trial" points="{" ".join(points)}" '
                f'stroke="{svg.sequential_color(shades[row])}">{svg.tooltip(tip)}</polyline>'
            )
        parts.append("</g>")
        return "".join(parts)


def _axis_scale(axis: ParallelAxis, box: svg.Box) -> Scale:
    if axis.kind == "category":
        return make_scale("category", [], box.bottom, box.top, categories=axis.categories)
    fixed = axis.bounds
    if fixed is not None and fixed[1] <= fixed[0]:
        fixed = None
    return make_scale(
        axis.kind, axis.values, box.bottom - 6, box.top + 6, fixed=fixed, integer=axis.integer
    )


def _chip_half_width(axis: ParallelAxis, spacing: float) -> float:
    """Half the width of a category axis's label boxes (0 on numeric axes)."""
    if axis.kind != "category":
        return 0.0
    longest = max((svg.text_width(c) for c in axis.categories), default=0.0)
    return min(longest / 2 + 5, spacing * 0.4)


def _draw_axis(
    axis: ParallelAxis, x: float, scale: Scale, box: svg.Box, spacing: float, half: float
) -> str:
    kind = " (log)" if axis.kind == "log" else ""
    name = svg.truncate(axis.name + kind, int(spacing / svg.CHAR_WIDTH))
    parts = [
        f'<g class="p-axis" data-kind="{svg.esc(axis.kind)}">',
        f'<line x1="{svg.px(x)}" x2="{svg.px(x)}" y1="{svg.px(box.top)}" '
        f'y2="{svg.px(box.bottom)}" stroke="#444" stroke-width="1.2"/>',
        f'<text class="axis-name" x="{svg.px(x)}" y="{svg.px(box.top - 14)}" '
        f'text-anchor="middle" font-weight="bold">{svg.esc(name)}'
        f"{svg.tooltip(axis.name)}</text>",
    ]
    if half:
        # Many categories share the axis: boxes shrink to their band so none overlap.
        band = (box.bottom - box.top) / max(len(axis.categories), 1)
        height = min(_CHIP_HEIGHT, band - 2)
        parts.extend(_chip(tick, x, half, height) for tick in scale.ticks())
        parts.append("</g>")
        return "".join(parts)
    max_chars = int(spacing * 0.6 / svg.CHAR_WIDTH)
    for tick in scale.ticks():
        y = svg.px(tick.pixel)
        parts.append(
            f'<line x1="{svg.px(x - 3)}" x2="{svg.px(x)}" y1="{y}" y2="{y}" stroke="#444"/>'
        )
        parts.append(
            f'<text class="tick" data-value="{tick.value!r}" x="{svg.px(x - 5)}" '
            f'y="{svg.px(tick.pixel + 4)}" text-anchor="end" fill="#222" stroke="#fff" '
            f'stroke-width="3" paint-order="stroke">{svg.esc(svg.truncate(tick.label, max_chars))}'
            "</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _chip(tick: Tick, x: float, half: float, height: float) -> str:
    """A category label in an opaque box centred on the axis."""
    label = svg.truncate(tick.label, int((2 * half - 6) / svg.CHAR_WIDTH))
    top = tick.pixel - height / 2
    return (
        f'<rect class="chip" x="{svg.px(x - half)}" y="{svg.px(top)}" '
        f'width="{svg.px(2 * half)}" height="{svg.px(height)}" rx="3" fill="#fff" '
        'stroke="#444"/>'
        f'<text class="tick" data-value="{tick.value!r}" x="{svg.px(x)}" '
        f'y="{svg.px(tick.pixel + 4)}" text-anchor="middle" fill="#222">{svg.esc(label)}'
        f"{svg.tooltip(tick.label if label != tick.label else None)}</text>"
    )


def _finite_bounds(values: Sequence[float]) -> tuple[float, float]:
    good = [v for v in values if math.isfinite(v)]
    return (min(good), max(good)) if good else (0.0, 1.0)
