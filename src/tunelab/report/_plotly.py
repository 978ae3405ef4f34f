"""Interactive plots: the report's figures redrawn with plotly (the ``report`` extra).

Imported only for ``interactive=True``. plotly.js is inlined once per page, so the
file stays self-contained but grows by several MB.
"""

from __future__ import annotations

import math
from typing import Any

from tunelab.report._chart import Chart, Series
from tunelab.report._heatmap import Heatmap
from tunelab.report._parallel import ParallelAxis, ParallelCoordinates

INSTALL_HINT = "pip install 'tunelab[report]'"


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
            xaxis=_axis(chart.x_label, chart.x_scale, chart.x_categories, chart.x_range),
            yaxis=_axis(chart.y_label, chart.y_scale, chart.y_categories, chart.y_range),
        )
        return figure

    def _trace(self, chart: Chart, s: Series, bottom: float) -> Any:
        go = self._go
        xs, ys = [_clean(v) for v in s.xs], [_clean(v) for v in s.ys]
        common = {"name": s.label or "", "showlegend": bool(s.label)}
        if s.kind == "bars":
            return go.Bar(
                x=xs,
                y=chart.y_categories,
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
        dimensions = [_dimension(axis) for axis in plot.axes]
        line = {
            "color": [_clean(v) for v in plot.color_values],
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": plot.color_label},
        }
        figure = self._go.Figure(self._go.Parcoords(line=line, dimensions=dimensions))
        figure.update_layout(title=plot.title, height=plot.height, template="simple_white")
        return figure


def _clean(value: float) -> float | None:
    """plotly leaves gaps at None; NaN and inf would break its JSON."""
    return value if math.isfinite(value) else None


def _axis(
    label: str, kind: str, categories: list[str], fixed: tuple[float, float] | None
) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": label}
    if kind == "log":
        axis["type"] = "log"
        if fixed is not None:
            axis["range"] = [math.log10(fixed[0]), math.log10(fixed[1])]
    elif kind == "category":
        axis.update(tickvals=list(range(len(categories))), ticktext=categories)
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
    if axis.kind == "log":
        logs = [math.log10(v) if v > 0 and math.isfinite(v) else None for v in axis.values]
        exps = range(
            math.floor(min((v for v in logs if v is not None), default=0.0)),
            math.ceil(max((v for v in logs if v is not None), default=1.0)) + 1,
        )
        return {
            "label": f"{axis.name} (log)",
            "values": logs,
            "tickvals": list(exps),
            "ticktext": [f"1e{e}" for e in exps],
        }
    out: dict[str, Any] = {"label": axis.name, "values": [_clean(v) for v in axis.values]}
    if axis.bounds is not None:
        out["range"] = list(axis.bounds)
    return out
