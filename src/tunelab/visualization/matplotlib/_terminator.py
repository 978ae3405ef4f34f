"""Matplotlib version of the terminator improvement plot."""

from __future__ import annotations

from typing import Any

from tunelab.terminator import BaseErrorEvaluator, BaseImprovementEvaluator
from tunelab.visualization._terminator import improvement_curve
from tunelab.visualization.matplotlib._plots import _axes


def plot_terminator_improvement(
    study: Any,
    plot_error: bool = False,
    improvement_evaluator: BaseImprovementEvaluator | None = None,
    error_evaluator: BaseErrorEvaluator | None = None,
    min_n_trials: int = 20,
) -> Any:
    """Matplotlib version of :func:`tunelab.visualization.plot_terminator_improvement`."""
    curve = improvement_curve(
        study,
        plot_error=plot_error,
        improvement_evaluator=improvement_evaluator,
        error_evaluator=error_evaluator,
    )
    ax = _axes("Terminator Improvement Plot")
    ax.set_xlabel("Trial")
    ax.set_ylabel("Terminator Improvement")
    ax.plot(curve.numbers, curve.improvements, marker="o", label="Terminator improvement")
    if curve.errors is not None:
        ax.plot(curve.numbers, curve.errors, marker="o", label="Error")
    if curve.numbers and curve.numbers[0] < min_n_trials:
        # Shade the trials before the estimates are trustworthy.
        ax.axvspan(curve.numbers[0], min(min_n_trials, curve.numbers[-1]), alpha=0.15)
    ax.legend()
    return ax
