"""HTML reports: one self-contained file with inline SVG plots, small enough to mail.

:func:`study_report` describes a tuning study, :func:`evaluation_report` a
cross-validated evaluation, and :func:`render_report` lays out any sections on the
same page template. Plots are drawn by a small built-in SVG layer; plotly is used
only for ``interactive=True`` (``pip install 'tunelab[report]'``).
"""

from __future__ import annotations

from tunelab.report._evaluation import evaluation_report
from tunelab.report._html import Section, render_report
from tunelab.report._importance import param_importances
from tunelab.report._study import study_report

__all__ = [
    "Section",
    "evaluation_report",
    "param_importances",
    "render_report",
    "study_report",
]
