"""An x–y chart drawn as inline SVG: lines, points, horizontal bars and rug marks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tunelab.report import _svg as svg
from tunelab.report._scale import SCALE_KINDS, LinearScale, Scale, finite, make_scale

_INSET = 8.0  # keeps points on the domain's edge off the frame
# Widths that tile the page's 1,144 px content column: one, two or three plots a row.
FULL_WIDTH = 1140.0
HALF_WIDTH = 560.0
THIRD_WIDTH = 364.0


@dataclass(frozen=True)
class Series:
    """One thing drawn on a chart; ``kind`` is 'line', 'points', 'bars' or 'rug'."""

    kind: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str
    colors: tuple[str, ...] | None = None
    label: str | None = None
    tooltips: tuple[str, ...] | None = None
    css: str = ""
    width: float = 1.5
    dash: str | None = None
    marker: str = "circle"
    radius: float = 3.5


class Chart:
    """A titled x–y plot with linear, log or category axes.

    Axes cover the data added (or ``x_range``/``y_range`` exactly); points that an
    axis cannot show (NaN, ±inf, non-positive on a log axis) are left out, and lines
    break around them, so no coordinate is ever 'nan'.

    Args:
        name: Identifies the plot in the page (``data-plot`` attribute).
        title: Heading drawn above the plot and read by screen readers.
        x_label: Horizontal axis title.
        y_label: Vertical axis title.
        x_scale: 'linear', 'log' or 'category'.
        y_scale: 'linear', 'log' or 'category'.
        x_categories: Labels of a category x axis (values are their indices).
        y_categories: Labels of a category y axis.
        x_range: Exact x domain instead of one fitted to the data.
        x_integer: Tick the x axis at whole numbers only (an integer parameter).
        y_range: Exact y domain.
        width: Width in pixels.
        height: Height in pixels.
        colorbar: A colour scale to draw at the right (for points coloured by value).
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        x_label: str = "",
        y_label: str = "",
        x_scale: str = "linear",
        y_scale: str = "linear",
        x_categories: Sequence[str] | None = None,
        y_categories: Sequence[str] | None = None,
        x_range: tuple[float, float] | None = None,
        x_integer: bool = False,
        y_range: tuple[float, float] | None = None,
        width: float = 560,
        height: float = 340,
        colorbar: svg.Colorbar | None = None,
    ) -> None:
        for key, kind in (("x_scale", x_scale), ("y_scale", y_scale)):
            if kind not in SCALE_KINDS:
                raise ValueError(f"{key} must be one of {SCALE_KINDS}, got {kind!r}")
        self.name, self.title = name, title
        self.x_label, self.y_label = x_label, y_label
        self.x_scale, self.y_scale = x_scale, y_scale
        self.x_categories = list(x_categories or [])
        self.y_categories = list(y_categories or [])
        self.x_range, self.y_range = x_range, y_range
        self.x_integer = x_integer
        self.width, self.height = width, height
        self.colorbar = colorbar
        self.series: list[Series] = []

    # -- adding data --
    def line(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        *,
        color: str,
        label: str | None = None,
        css: str = "line",
        width: float = 1.5,
        dash: str | None = None,
        step: bool = False,
    ) -> None:
        """A polyline through (xs, ys); ``step`` draws it as a staircase (value held)."""
        xs, ys = tuple(map(float, xs)), tuple(map(float, ys))
        if step and len(xs) > 1:
            xs, ys = _staircase(xs, ys)
        self.series.append(Series("line", xs, ys, color, None, label, None, css, width, dash))

    def points(
        self,
        xs: Iterable[float],
        ys: Iterable[float],
        *,
        color: str = svg.PALETTE[0],
        colors: Sequence[str] | None = None,
        label: str | None = None,
        tooltips: Sequence[str] | None = None,
        css: str = "point",
        marker: str = "circle",
        radius: float = 3.5,
    ) -> None:
        """Markers ('circle' or 'cross') at (xs, ys), each coloured and titled if given."""
        self.series.append(
            Series(
                "points",
                tuple(map(float, xs)),
                tuple(map(float, ys)),
                color,
                tuple(colors) if colors is not None else None,
                label,
                tuple(tooltips) if tooltips is not None else None,
                css,
                marker=marker,
                radius=radius,
            )
        )

    def bars(
        self,
        values: Iterable[float],
        *,
        color: str = svg.PALETTE[0],
        tooltips: Sequence[str] | None = None,
    ) -> None:
        """Horizontal bars from 0, one per y category (in order)."""
        xs = tuple(map(float, values))
        ys = tuple(float(i) for i in range(len(xs)))
        tips = tuple(tooltips) if tooltips is not None else None
        self.series.append(Series("bars", xs, ys, color, None, None, tips, "bar"))

    def rug(
        self,
        xs: Sequence[float],
        *,
        color: str,
        label: str | None = None,
        tooltips: Sequence[str] | None = None,
        css: str = "rug",
    ) -> None:
        """Triangles along the bottom edge at ``xs`` (events with no y value)."""
        tips = tuple(tooltips) if tooltips is not None else None
        xs_f = tuple(map(float, xs))
        self.series.append(Series("rug", xs_f, (), color, None, label, tips, css))

    # -- drawing --
    def to_svg(self) -> str:
        """The chart as one ``<svg>`` element."""
        items = self._legend_items()
        left = self._left_margin()
        right = self.width - 16 - (svg.COLORBAR_WIDTH if self.colorbar else 0)
        legend_h = svg.legend_height(items, right - left)
        bottom = self.height - (42 if self.x_label else 26) - legend_h
        box = svg.Box(left, 30, right, bottom)
        xs, ys = self._scales(box)
        parts = [svg.open_svg(self.name, self.title, self.width, self.height)]
        parts.append(svg.text(left, 18, self.title, css="plot-title"))
        parts.append(svg.y_axis(ys, box, max_chars=int((left - 12) / svg.CHAR_WIDTH)))
        parts.append(svg.x_axis(xs, box))
        parts.append(svg.frame(box))
        parts.extend(self._draw_series(s, xs, ys, box) for s in self.series)
        parts.append(self._axis_titles(box))
        parts.append(svg.legend(items, left, bottom + (34 if self.x_label else 22), right - left))
        if self.colorbar:
            bar = self.colorbar
            bar_scale = LinearScale(bar.lo, bar.hi, box.bottom, box.top, nice=False)
            parts.append(svg.colorbar(self.colorbar, right + 14, box, bar_scale))
        parts.append("</svg>")
        return "".join(parts)

    def _left_margin(self) -> float:
        if self.y_scale == "category":
            longest = max((len(c) for c in self.y_categories), default=4)
            return min(190.0, 22 + min(longest, 28) * svg.CHAR_WIDTH)
        return 64.0 if self.y_label else 52.0

    def _scales(self, box: svg.Box) -> tuple[Scale, Scale]:
        x_values = [v for s in self.series for v in s.xs]
        if any(s.kind == "bars" for s in self.series):
            x_values.append(0.0)
        y_values = [v for s in self.series for v in s.ys]
        xs = make_scale(
            self.x_scale,
            x_values,
            box.left + _INSET,
            box.right - _INSET,
            fixed=self.x_range,
            categories=self.x_categories,
            integer=self.x_integer,
        )
        inset = 0.0 if self.y_scale == "category" else _INSET
        ys = make_scale(
            self.y_scale,
            y_values,
            box.bottom - inset,
            box.top + inset,
            fixed=self.y_range,
            categories=self.y_categories,
        )
        return xs, ys

    def _legend_items(self) -> list[svg.LegendItem]:
        swatch = {"line": "line", "points": "point", "rug": "rug"}
        items = []
        for s in self.series:
            if s.label and s.xs:
                kind = "cross" if s.kind == "points" and s.marker == "cross" else swatch[s.kind]
                items.append(svg.LegendItem(s.label, s.color, kind, s.dash))
        return items

    def _axis_titles(self, box: svg.Box) -> str:
        parts = []
        if self.x_label:
            mid = (box.left + box.right) / 2
            parts.append(svg.text(mid, box.bottom + 32, self.x_label, anchor="middle"))
        if self.y_label and self.y_scale != "category":
            mid = (box.top + box.bottom) / 2
            parts.append(svg.text(13, mid, self.y_label, anchor="middle", rotate=True))
        return "".join(parts)

    def _draw_series(self, s: Series, xs: Scale, ys: Scale, box: svg.Box) -> str:
        if s.kind == "line":
            return _draw_line(s, xs, ys)
        if s.kind == "points":
            return _draw_points(s, xs, ys)
        if s.kind == "bars":
            return _draw_bars(s, xs, ys, box)
        return _draw_rug(s, xs, box)


def _staircase(xs: tuple[float, ...], ys: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    sx, sy = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        sx.extend((x, x))
        sy.extend((sy[-1], y))
    return tuple(sx), tuple(sy)


def _visible(xs: Scale, ys: Scale, x: float, y: float) -> bool:
    return xs.accepts(x) and ys.accepts(y)


def _draw_line(s: Series, xs: Scale, ys: Scale) -> str:
    segments: list[list[str]] = [[]]
    for x, y in zip(s.xs, s.ys, strict=True):
        if _visible(xs, ys, x, y):
            segments[-1].append(f"{svg.px(xs(x))},{svg.px(ys(y))}")
        elif segments[-1]:
            segments.append([])
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    title = svg.tooltip(s.label)
    return "".join(
        f'<polyline class="{s.css}" points="{" ".join(seg)}" fill="none" stroke="{s.color}" '
        f'stroke-width="{s.width}" stroke-linejoin="round"{dash}>{title}</polyline>'
        for seg in segments
        if len(seg) > 1
    )


def _draw_points(s: Series, xs: Scale, ys: Scale) -> str:
    parts = [f'<g class="points {s.css}">']
    for i, (x, y) in enumerate(zip(s.xs, s.ys, strict=True)):
        if not _visible(xs, ys, x, y):
            continue
        color = s.colors[i] if s.colors else s.color
        tip = s.tooltips[i] if s.tooltips else None
        cx, cy = xs(x), ys(y)
        if s.marker == "cross":
            parts.append(svg.cross(cx, cy, s.radius, color, css=s.css, title=tip))
        else:
            parts.append(
                f'<circle class="{s.css}" cx="{svg.px(cx)}" cy="{svg.px(cy)}" r="{s.radius}" '
                f'fill="{color}" fill-opacity="0.85">{svg.tooltip(tip)}</circle>'
            )
    parts.append("</g>")
    return "".join(parts)


def _draw_bars(s: Series, xs: Scale, ys: Scale, box: svg.Box) -> str:
    band = (box.bottom - box.top) / max(len(s.ys), 1)
    zero = xs(0.0)
    parts = ['<g class="bars">']
    for i, (value, row) in enumerate(zip(s.xs, s.ys, strict=True)):
        if not math.isfinite(value):
            continue
        end = xs(value)
        tip = s.tooltips[i] if s.tooltips else None
        parts.append(
            f'<rect class="{s.css}" x="{svg.px(min(zero, end))}" '
            f'y="{svg.px(ys(row) - band * 0.35)}" width="{svg.px(abs(end - zero))}" '
            f'height="{svg.px(band * 0.7)}" fill="{s.color}">{svg.tooltip(tip)}</rect>'
        )
    parts.append("</g>")
    return "".join(parts)


def _draw_rug(s: Series, xs: Scale, box: svg.Box) -> str:
    parts = [f'<g class="rugs {s.css}">']
    for i, x in enumerate(s.xs):
        if xs.accepts(x):
            tip = s.tooltips[i] if s.tooltips else None
            parts.append(svg.triangle(xs(x), box.bottom - 1, s.color, css=s.css, title=tip))
    parts.append("</g>")
    return "".join(parts)


def finite_range(values: Sequence[float]) -> tuple[float, float] | None:
    """(min, max) of the finite ``values``, or None when there are none."""
    good = finite(values)
    return (min(good), max(good)) if good else None
