"""The terminator's view of a study: room left for improvement, trial by trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunelab.terminator import (
    BaseErrorEvaluator,
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    CrossValidationErrorEvaluator,
    RegretBoundEvaluator,
    StaticErrorEvaluator,
)
from tunelab.trial import FrozenTrial, TrialState


@dataclass(frozen=True)
class ImprovementCurve:
    """Per trial (from the first completed one): the improvement bound and the error."""

    numbers: list[int]
    improvements: list[float]
    errors: list[float] | None


def improvement_curve(
    study: Any,
    *,
    plot_error: bool,
    improvement_evaluator: BaseImprovementEvaluator | None,
    error_evaluator: BaseErrorEvaluator | None,
) -> ImprovementCurve:
    """What :class:`~tunelab.terminator.Terminator` would have seen after each trial.

    Raises:
        ValueError: The study has several objectives, or an evaluator cannot judge its
            trials (e.g. no cross-validation scores were reported for the error).
    """
    if len(study.directions) > 1:
        raise ValueError("plot_terminator_improvement needs a study with one objective")
    improver = improvement_evaluator or RegretBoundEvaluator()
    if error_evaluator is not None:
        judge = error_evaluator
    elif isinstance(improver, BestValueStagnationEvaluator):
        judge = StaticErrorEvaluator(constant=0)  # stagnation counts trials: no noise to add
    else:
        judge = CrossValidationErrorEvaluator()
    numbers: list[int] = []
    improvements: list[float] = []
    errors: list[float] = []
    completed: list[FrozenTrial] = []
    for trial in study.get_trials():
        if trial.state == TrialState.COMPLETE:
            completed.append(trial)
        if not completed:
            continue
        numbers.append(trial.number)
        improvements.append(float(improver.evaluate(completed, study.direction)))
        if plot_error:
            errors.append(float(judge.evaluate(completed, study.direction)))
    return ImprovementCurve(numbers, improvements, errors if plot_error else None)


def plot_terminator_improvement(
    study: Any,
    plot_error: bool = False,
    improvement_evaluator: BaseImprovementEvaluator | None = None,
    error_evaluator: BaseErrorEvaluator | None = None,
    min_n_trials: int = 20,
) -> Any:
    """The room for improvement the terminator sees after each trial (plotly).

    Where the improvement falls below the error, more trials are unlikely to beat the
    best one by more than the noise of evaluating it (Makarova et al., 2022).

    Args:
        study: A single-objective study.
        plot_error: Also draw the error (by default the cross-validation spread of the
            best trial, so the objective must call
            :func:`~tunelab.terminator.report_cross_validation_scores`).
        improvement_evaluator: :class:`~tunelab.terminator.RegretBoundEvaluator` by
            default.
        error_evaluator: :class:`~tunelab.terminator.CrossValidationErrorEvaluator` by
            default (a zero error under a best-value-stagnation evaluator).
        min_n_trials: Trials before which the estimates are too unsure to stop on; they
            are drawn fainter.

    Returns:
        A plotly figure.

    Raises:
        ValueError: Several objectives, or no cross-validation scores to read the error from.
    """
    from tunelab.visualization._plotly import _go

    go = _go()
    curve = improvement_curve(
        study,
        plot_error=plot_error,
        improvement_evaluator=improvement_evaluator,
        error_evaluator=error_evaluator,
    )
    fig = go.Figure()
    early = sum(1 for n in curve.numbers if n < min_n_trials)
    series = [("Terminator improvement", curve.improvements, "#636efa")]
    if curve.errors is not None:
        series.append(("Error", curve.errors, "#ef553b"))
    for name, values, colour in series:
        fig.add_trace(
            go.Scatter(
                x=curve.numbers[early:],
                y=values[early:],
                mode="lines+markers",
                name=name,
                marker={"color": colour},
            )
        )
        if early:
            fig.add_trace(
                go.Scatter(
                    x=curve.numbers[: early + 1],
                    y=values[: early + 1],
                    mode="lines+markers",
                    name=f"{name} (fewer than {min_n_trials} trials)",
                    marker={"color": colour},
                    opacity=0.35,
                    showlegend=False,
                )
            )
    fig.update_layout(
        title="Terminator Improvement Plot",
        xaxis={"title": {"text": "Trial"}},
        yaxis={"title": {"text": "Terminator Improvement"}},
    )
    return fig
