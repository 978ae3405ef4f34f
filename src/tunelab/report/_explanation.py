"""The evaluation report's model explanation: permutation importance with intervals, SHAP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.evaluation import Explanation
from tunelab.report import _html as h
from tunelab.report import _svg as svg
from tunelab.report._chart import HALF_WIDTH, Chart


def as_explanation(explanation: Explanation | Mapping[str, Any]) -> Explanation:
    """An :class:`Explanation`, also from the mapping a model card keeps.

    Raises:
        ValueError: A mapping that is not an explanation (the message names the field).
    """
    if isinstance(explanation, Explanation):
        return explanation
    if isinstance(explanation, Mapping):
        return Explanation.from_dict(explanation)
    raise ValueError(
        "explanation must be a tunelab.evaluation.Explanation or its to_dict() mapping, "
        f"got {type(explanation).__name__}"
    )


def explanation_section(explanation: Explanation) -> h.Section:
    """Bars of each feature's importance with its interval, and SHAP values when present."""
    items = [h.figure(_permutation_chart(explanation).to_svg())]
    if explanation.shap:
        items.append(h.figure(_shap_chart(explanation.shap).to_svg()))
    level = round(100 * explanation.level)
    body = h.figures(items) + h.muted(
        f"Permutation importance: how much {explanation.metric} (baseline "
        f"{explanation.baseline:.4g}) drops when one feature is shuffled, on "
        f"{explanation.n_rows} held-out rows; {explanation.n_repeats} repeats, each a "
        f"bootstrap resample and a fresh shuffle. Whiskers: {level}% intervals; a "
        "feature whose interval covers 0 is not measurably used."
        + (" SHAP: mean absolute contribution to the prediction." if explanation.shap else "")
    )
    if explanation.shap_note:
        body += h.note(explanation.shap_note + ".")
    return h.Section("Model explanation", body)


def _permutation_chart(explanation: Explanation) -> Chart:
    features = list(explanation.features)[::-1]  # most important on top
    names = [f.feature for f in features]
    chart = Chart(
        name="permutation-importance",
        title="Permutation importance",
        x_label=f"drop in {explanation.metric} when shuffled",
        y_scale="category",
        y_categories=names,
        height=max(200.0, 80 + 26 * len(names)),
        width=HALF_WIDTH,
    )
    chart.bars(
        [f.mean for f in features],
        tooltips=[f"{f.feature}: {f.mean:.4g} [{f.low:.4g}, {f.high:.4g}]" for f in features],
    )
    for row, f in enumerate(features):
        chart.line([f.low, f.high], [row, row], color="#222", css="interval", width=1.5)
    # Just inside the outer bands: the category axis accepts [-0.5, n - 0.5).
    chart.line([0.0, 0.0], [-0.5, len(names) - 0.501], color=svg.MUTED, css="zero", width=1)
    return chart


def _shap_chart(values: Mapping[str, float]) -> Chart:
    names = list(values)[::-1]
    chart = Chart(
        name="shap",
        title="SHAP values",
        x_label="mean |SHAP value|",
        y_scale="category",
        y_categories=names,
        height=max(200.0, 80 + 26 * len(names)),
        width=HALF_WIDTH,
    )
    chart.bars(
        [values[n] for n in names],
        color=svg.PALETTE[1],
        tooltips=[f"{n}: {values[n]:.4g}" for n in names],
    )
    return chart
