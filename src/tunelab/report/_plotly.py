"""Interactive plots: the report's figures redrawn with plotly (the ``report`` extra).

Imported only for ``interactive=True``. plotly.js is inlined once per page, so the
file stays self-contained but grows by several MB.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tunelab.report._chart import Chart, Series
from tunelab.report._heatmap import Heatmap
from tunelab.report._parallel import ParallelAxis, ParallelCoordinates
from tunelab.report._scale import LinearScale, LogScale
from tunelab.report._svg import truncate

INSTALL_HINT = "pip install 'tunelab[report]'"
# plotly's default 12 px font advances about this much per character, for layout only.
_CHAR_PX = 7.2
_MAX_LABEL_LINES = 3
_LINE_PX = 15
# Room for the title above a chart; parallel coordinates add their labels' lines.
_TOP = 50
_PARALLEL_MARGIN = 60


def require_plotly() -> tuple[Any, Any]:
    """plotly's ``graph_objects`` and ``io`` modules.

    Raises:
        ImportError: plotly is not installed; the message says how to install it.
    """
    try:
        import plotly.graph_objects as go
        import plotly.io as pio
    except ImportError as exc:
        raise ImportError(
            f"interactive reports need plotly, which is not installed: {INSTALL_HINT} "
            "(or call with interactive=False for inline SVG plots)"
        ) from exc
    return go, pio


class PlotlyRenderer:
    """Turns report figures into plotly HTML fragments, inlining plotly.js once."""

    def __init__(self) -> None:
        self._go, self._pio = require_plotly()
        self._script_done = False

    def __call__(self, fig: Chart | Heatmap | ParallelCoordinates) -> str:
        if isinstance(fig, Chart):
            figure = self._chart(fig)
        elif isinstance(fig, Heatmap):
            figure = self._heatmap(fig)
        else:
            figure = self._parallel(fig)
        fragment: str = self._pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=not self._script_done,
            config={"displaylogo": False},
        )
        self._script_done = True
        return fragment

    def _chart(self, chart: Chart) -> Any:
        figure = self._go.Figure()
        bottom = min((v for s in chart.series for v in s.ys if math.isfinite(v)), default=0.0)
        for series in chart.series:
            figure.add_trace(self._trace(chart, series, bottom))
        figure.update_layout(
            title=chart.title,
            width=chart.width,
            height=chart.height,
            template="simple_white",
            # Explicit margins: plotly's defaults (100 px above, 80 below) leave a short
            # chart such as the importance bars no plotting area at all.
            margin={"t": _TOP, "b": 50, "l": 60, "r": 20, "autoexpand": True},
            xaxis=_axis(
                chart.x_label, chart.x_scale, chart.x_categories, chart.x_range, chart.x_integer
            ),
            yaxis=_axis(chart.y_label, chart.y_scale, chart.y_categories, chart.y_range),
        )
        return figure

    def _trace(self, chart: Chart, s: Series, bottom: float) -> Any:
        go = self._go
        xs, ys = [_clean(v) for v in s.xs], [_clean(v) for v in s.ys]
        common = {"name": s.label or "", "showlegend": bool(s.label)}
        if s.kind == "bars":
            # Bars sit at the category indices the axis ticks label (see _axis).
            return go.Bar(
                x=xs,
                y=ys,
                orientation="h",
                marker_color=s.color,
                hovertext=s.tooltips,
            )
        if s.kind == "line":
            dash = "dash" if s.dash else "solid"
            line = {"color": s.color, "width": s.width, "dash": dash}
            return go.Scatter(x=xs, y=ys, mode="lines", line=line, **common)
        if s.kind == "rug":
            marker = {"color": s.color, "symbol": "triangle-up", "size": 9}
            ys = [bottom] * len(xs)
        else:
            symbol = "x" if s.marker == "cross" else "circle"
            marker = {
                "color": list(s.colors) if s.colors else s.color,
                "symbol": symbol,
                "size": 2 * s.radius,
            }
        return go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=marker,
            hovertext=s.tooltips,
            hoverinfo="text",
            **common,
        )

    def _heatmap(self, heat: Heatmap) -> Any:
        trace = self._go.Heatmap(
            z=heat.matrix,
            x=heat.col_labels,
            y=heat.row_labels,
            colorscale="Blues",
            text=heat.matrix,
            texttemplate="%{text}",
        )
        figure = self._go.Figure(trace)
        figure.update_layout(
            title=heat.title,
            template="simple_white",
            xaxis={"title": heat.x_label, "type": "category"},
            yaxis={"title": heat.y_label, "type": "category", "autorange": "reversed"},
        )
        return figure

    def _parallel(self, plot: ParallelCoordinates) -> Any:
        # Each axis's name gets the room between axes, wrapped onto lines if need be,
        # or neighbouring names run into each other.
        room = (plot.width - 2 * _PARALLEL_MARGIN) / max(len(plot.axes), 1)
        dimensions = [_dimension(axis) for axis in plot.axes]
        for dimension in dimensions:
            dimension["label"] = fit_label(dimension["label"], room)
        lines = max((d["label"].count("<br>") + 1 for d in dimensions), default=1)
        line = {
            "color": [_clean(v) for v in plot.color_values],
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": plot.color_label},
        }
        figure = self._go.Figure(self._go.Parcoords(line=line, dimensions=dimensions))
        figure.update_layout(
            title=plot.title,
            width=plot.width,
            height=plot.height + _LINE_PX * lines,
            template="simple_white",
            margin={
                "t": _TOP + 20 + _LINE_PX * lines,
                "b": 30,
                "l": _PARALLEL_MARGIN,
                "r": _PARALLEL_MARGIN,
            },
        )
        return figure


def fit_label(name: str, room: float) -> str:
    """``name`` wrapped at word or underscore breaks into lines ``room`` pixels wide.

    At most three lines (the last cut with an ellipsis), joined by ``<br>``.
    """
    width = max(4, int(room / _CHAR_PX))
    lines = [""]
    for token in re.findall(r"[^_\s]+[_\s]*", name) or [name]:
        for piece in (token[i : i + width] for i in range(0, len(token), width)):
            if lines[-1] and len(lines[-1]) + len(piece.rstrip()) > width:
                lines.append("")
            lines[-1] += piece
    lines = [line.strip() for line in lines]
    if len(lines) > _MAX_LABEL_LINES:
        lines = lines[:_MAX_LABEL_LINES]
        lines[-1] = truncate(lines[-1] + "…", width)
    return "<br>".join(lines)


def _clean(value: float) -> float | None:
    """plotly leaves gaps at None; NaN and inf would break its JSON."""
    return value if math.isfinite(value) else None


def _axis(
    label: str,
    kind: str,
    categories: list[str],
    fixed: tuple[float, float] | None,
    integer: bool = False,
) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": label}
    if integer and fixed is not None and kind == "linear":
        ticks = LinearScale(*fixed, 0.0, 1.0, nice=False, integer=True).ticks()
        axis.update(tickvals=[t.value for t in ticks], ticktext=[t.label for t in ticks])
    if kind == "log":
        axis["type"] = "log"
        if fixed is not None:
            axis["range"] = [math.log10(fixed[0]), math.log10(fixed[1])]
    elif kind == "category":
        axis.update(
            tickvals=list(range(len(categories))),
            ticktext=categories,
            range=[-0.5, len(categories) - 0.5],
            automargin=True,
        )
    elif fixed is not None:
        axis["range"] = list(fixed)
    return axis


def _dimension(axis: ParallelAxis) -> dict[str, Any]:
    if axis.kind == "category":
        return {
            "label": axis.name,
            "values": [_clean(v) for v in axis.values],
            "tickvals": list(range(len(axis.categories))),
            "ticktext": list(axis.categories),
        }
    # The SVG plot's ticks: inside the data, whole numbers on integer axes.
    values = [v for v in axis.values if math.isfinite(v) and (axis.kind != "log" or v > 0)]
    lo, hi = axis.bounds or (min(values, default=1.0), max(values, default=10.0))
    if axis.kind == "log":
        ticks = LogScale(lo, hi, 0.0, 1.0).ticks()
        return {
            "label": f"{axis.name} (log)",
            "values": [math.log10(v) if v > 0 and math.isfinite(v) else None for v in axis.values],
            "range": [math.log10(lo), math.log10(hi)],
            "tickvals": [math.log10(t.value) for t in ticks],
            "ticktext": [t.label for t in ticks],
        }
    out: dict[str, Any] = {"label": axis.name, "values": [_clean(v) for v in axis.values]}
    if axis.bounds is not None:
        out["range"] = list(axis.bounds)
    if axis.integer:
        ticks = LinearScale(lo, hi, 0.0, 1.0, nice=False, integer=True).ticks()
        out.update(tickvals=[t.value for t in ticks], ticktext=[t.label for t in ticks])
    return out
