"""Optuna's ``plot_*`` figures for tunelab studies, drawn with matplotlib.

Same names and arguments as :mod:`tunelab.visualization`; each returns matplotlib
``Axes``. matplotlib is imported on first use (``pip install 'tunelab[report]'``).
"""

from __future__ import annotations

from tunelab.visualization.matplotlib._plots import (
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
from tunelab.visualization.matplotlib._terminator import plot_terminator_improvement

__all__ = [
    "is_available",
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
