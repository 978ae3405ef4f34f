"""The evaluation report: a metric table with intervals and the diagnostic plots of a
classifier (confusion matrix, ROC, precision–recall, calibration) or a regressor
(residuals, predicted against true), from plain per-fold arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.evaluation import Explanation
from tunelab.report import _html as h
from tunelab.report._eval_plots import classification_sections, regression_sections
from tunelab.report._explanation import as_explanation, explanation_section

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Fold:
    """Validated arrays of one fold (``score`` is n x k, or None)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    score: np.ndarray | None


def evaluation_report(
    *,
    title: str,
    metrics: Sequence[Sequence[Any]],
    task: str,
    folds: Sequence[Mapping[str, Any]],
    labels: Sequence[Any] | None = None,
    path: str | Path | None = None,
    explanation: Explanation | Mapping[str, Any] | None = None,
) -> str:
    """An HTML report of a cross-validated evaluation, small enough to mail.

    Args:
        title: Page title.
        metrics: Rows ``(name, mean, std, ci_low, ci_high)``; std and the interval
            may be None when unknown.
        task: 'classification' or 'regression'.
        folds: One mapping per fold with ``y_true``, ``y_pred`` and, for classifiers,
            ``y_score``: an n x k array of class probabilities in the order of
            ``labels`` (a 1-D array of positive-class probabilities for binary
            problems), or None.
        labels: Class labels in the column order of ``y_score``; by default the
            sorted labels found in ``y_true`` and ``y_pred``.
        path: Where to write the HTML file (UTF-8); nothing is written when None.
        explanation: What the model relies on (from
            :func:`tunelab.evaluation.explain_model`, or the mapping a model card
            keeps): adds a "Model explanation" section.

    Returns:
        The HTML document.

    Raises:
        ValueError: ``task``, ``metrics`` or ``folds`` is malformed (the message
            names the item and what was expected).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    explained = as_explanation(explanation) if explanation is not None else None
    checked = [_check_fold(i, fold) for i, fold in enumerate(folds)]
    if not checked:
        raise ValueError("folds must hold at least one fold")
    sections = [h.Section("Metrics", _metrics_table(metrics))]
    if task == "classification":
        class_labels = _labels(checked, labels)
        sections += classification_sections(
            checked, class_labels, _label_codes(checked, class_labels)
        )
    else:
        sections += regression_sections(checked)
    if explained is not None:
        sections.append(explanation_section(explained))
    return h.write_report(h.render_report(sections, title), path)


def _metrics_table(metrics: Sequence[Sequence[Any]]) -> str:
    rows = []
    for i, row in enumerate(metrics):
        if isinstance(row, str | bytes) or len(row) != 5:
            raise ValueError(
                f"metrics[{i}] must be (name, mean, std, ci_low, ci_high), got {row!r}"
            )
        name, mean, std, low, high = row
        interval = "—" if low is None or high is None else f"[{_num(low)}, {_num(high)}]"
        rows.append([str(name), _num(mean), _num(std), interval])
    if not rows:
        return h.note("No metrics were given.")
    return h.table(["metric", "mean", "std", "interval"], rows, numeric=[1, 2, 3])


def _num(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{number:.4g}" if math.isfinite(number) else str(number)


def _check_fold(i: int, fold: Mapping[str, Any]) -> Fold:
    if not isinstance(fold, Mapping):
        raise ValueError(f"folds[{i}] must be a dict with y_true, y_pred and y_score")
    for key in ("y_true", "y_pred"):
        if key not in fold:
            raise ValueError(f"folds[{i}] has no {key!r}; expected keys y_true, y_pred, y_score")
    y_true, y_pred = np.asarray(fold["y_true"]), np.asarray(fold["y_pred"])
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(
            f"folds[{i}]: y_true and y_pred must be 1-D of equal length, got shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    score = fold.get("y_score")
    if score is None:
        return Fold(y_true, y_pred, None)
    score = np.asarray(score, dtype=float)
    if score.ndim == 1:
        score = np.column_stack([1.0 - score, score])
    if score.ndim != 2 or score.shape[0] != len(y_true):
        raise ValueError(
            f"folds[{i}]['y_score'] must be n x k (n = {len(y_true)}) or 1-D of length n, "
            f"got shape {np.shape(fold['y_score'])}"
        )
    return Fold(y_true, y_pred, score)


def _labels(folds: Sequence[Fold], labels: Sequence[Any] | None) -> list[Any]:
    if labels is None:
        found = np.unique(np.concatenate([np.r_[f.y_true, f.y_pred] for f in folds]))
        out = found.tolist()
    else:
        out = list(labels)
    if len(out) < 2:
        raise ValueError(f"labels must name at least 2 classes, got {out!r}")
    for i, fold in enumerate(folds):
        if fold.score is not None and fold.score.shape[1] != len(out):
            raise ValueError(
                f"folds[{i}]['y_score'] has {fold.score.shape[1]} columns but there are "
                f"{len(out)} labels {out!r}; pass labels= in the column order of y_score"
            )
    return out


def _label_codes(
    folds: Sequence[Fold], labels: Sequence[Any]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each fold's y_true and y_pred as indices into ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    codes = []
    for i, fold in enumerate(folds):
        pair = []
        for key, values in (("y_true", fold.y_true), ("y_pred", fold.y_pred)):
            try:
                pair.append(np.array([index[v] for v in values.tolist()], dtype=int))
            except KeyError as exc:
                raise ValueError(
                    f"folds[{i}][{key!r}] contains {exc.args[0]!r}, which is not in labels "
                    f"{list(labels)!r}"
                ) from None
        codes.append((pair[0], pair[1]))
    return codes
