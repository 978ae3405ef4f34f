"""Optuna's ``plot_*`` figures for tunelab studies, drawn with plotly.

The same names with matplotlib live in :mod:`tunelab.visualization.matplotlib`. Both need
the ``report`` extra (``pip install 'tunelab[report]'``), imported on first use.
"""

from __future__ import annotations

from tunelab.visualization import matplotlib
from tunelab.visualization._plotly import (
    is_available,
    plot_contour,
    plot_edf,
    plot_hypervolume_history,
    plot_intermediate_values,
    plot_optimization_history,
    plot_parallel_coordinate,
    plot_param_importances,
    plot_pareto_front,
    plot_rank,
    plot_slice,
    plot_timeline,
)
from tunelab.visualization._terminator import plot_terminator_improvement

__all__ = [
    "is_available",
    "matplotlib",
    "plot_contour",
    "plot_edf",
    "plot_hypervolume_history",
    "plot_intermediate_values",
    "plot_optimization_history",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_pareto_front",
    "plot_rank",
    "plot_slice",
    "plot_terminator_improvement",
    "plot_timeline",
]
