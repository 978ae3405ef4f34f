"""A labelled heatmap as inline SVG (confusion matrices), with the count in each cell."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tunelab.report import _svg as svg
from tunelab.report._scale import format_number

_LIGHT = (247, 251, 255)
_DARK = (8, 69, 148)
# Past this many rows or columns the numbers no longer fit in the cells.
_MAX_ANNOTATED = 20


class Heatmap:
    """A matrix drawn as shaded cells, rows top to bottom, columns left to right.

    Args:
        name: Identifies the plot in the page (``data-plot`` attribute).
        title: Heading drawn above the plot.
        matrix: Rows of numbers (non-finite cells are drawn grey and left empty).
        row_labels: One label per row.
        col_labels: One label per column.
        x_label: Title of the column axis.
        y_label: Title of the row axis.
        cell: Largest cell side in pixels.
    """

    def __init__(
        self,
        *,
        name: str,
        title: str,
        matrix: Sequence[Sequence[float]],
        row_labels: Sequence[str],
        col_labels: Sequence[str],
        x_label: str = "",
        y_label: str = "",
        cell: float = 64,
    ) -> None:
        rows = [[float(v) for v in row] for row in matrix]
        if len(rows) != len(row_labels) or any(len(r) != len(col_labels) for r in rows):
            raise ValueError(
                f"matrix must be {len(row_labels)} x {len(col_labels)} to match the labels"
            )
        self.name, self.title = name, title
        self.matrix, self.row_labels, self.col_labels = rows, list(row_labels), list(col_labels)
        self.x_label, self.y_label = x_label, y_label
        self.cell = min(cell, 560 / max(len(col_labels), 1))

    def to_svg(self) -> str:
        """The heatmap as one ``<svg>`` element."""
        n_rows, n_cols = len(self.row_labels), len(self.col_labels)
        longest = max((len(label) for label in self.row_labels), default=1)
        left = 34 + min(longest, 20) * svg.CHAR_WIDTH
        top, size = 48.0, self.cell
        width = left + n_cols * size + 20
        height = top + n_rows * size + 44
        peak = max((v for row in self.matrix for v in row if math.isfinite(v)), default=0.0)
        parts = [svg.open_svg(self.name, self.title, width, height)]
        parts.append(svg.text(left, 18, self.title, css="plot-title"))
        parts.append('<g class="cells">')
        for r, row in enumerate(self.matrix):
            for c, value in enumerate(row):
                parts.append(self._cell(r, c, value, peak, left, top))
        parts.append("</g>")
        parts.append(self._labels(left, top, n_rows, n_cols))
        parts.append("</svg>")
        return "".join(parts)

    def _cell(self, r: int, c: int, value: float, peak: float, left: float, top: float) -> str:
        size = self.cell
        x, y = left + c * size, top + r * size
        finite = math.isfinite(value)
        t = value / peak if finite and peak > 0 else 0.0
        fill = _blend(t) if finite else svg.MUTED
        tip = f"{self.y_label or 'row'} {self.row_labels[r]}, {self.x_label or 'column'} "
        tip += f"{self.col_labels[c]}: {format_number(value) if finite else 'n/a'}"
        parts = [
            f'<rect class="cell" x="{svg.px(x)}" y="{svg.px(y)}" width="{svg.px(size)}" '
            f'height="{svg.px(size)}" fill="{fill}" stroke="#fff">{svg.tooltip(tip)}</rect>'
        ]
        annotate = max(len(self.row_labels), len(self.col_labels)) <= _MAX_ANNOTATED
        if finite and annotate:
            color = "#fff" if t > 0.55 else "#222"
            parts.append(
                f'<text class="count" x="{svg.px(x + size / 2)}" y="{svg.px(y + size / 2 + 4)}" '
                f'text-anchor="middle" fill="{color}">{svg.esc(format_number(value))}</text>'
            )
        return "".join(parts)

    def _labels(self, left: float, top: float, n_rows: int, n_cols: int) -> str:
        size = self.cell
        max_chars = int(size / svg.CHAR_WIDTH)
        parts = ['<g class="labels" fill="#333">']
        for c, label in enumerate(self.col_labels):
            x = left + (c + 0.5) * size
            parts.append(svg.text(x, top - 6, svg.truncate(label, max_chars), anchor="middle"))
        for r, label in enumerate(self.row_labels):
            y = top + (r + 0.5) * size + 4
            parts.append(svg.text(left - 6, y, svg.truncate(label, 20), anchor="end"))
        if self.x_label:
            mid = left + n_cols * size / 2
            parts.append(svg.text(mid, top + n_rows * size + 20, self.x_label, anchor="middle"))
        if self.y_label:
            mid = top + n_rows * size / 2
            parts.append(svg.text(13, mid, self.y_label, anchor="middle", rotate=True))
        parts.append("</g>")
        return "".join(parts)


def _blend(t: float) -> str:
    t = min(1.0, max(0.0, t))
    rgb = (round(a + (b - a) * t) for a, b in zip(_LIGHT, _DARK, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)
