"""Sections of the evaluation report: classifier and regressor diagnostic plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.report import _curves as curves
from tunelab.report import _html as h
from tunelab.report import _svg as svg
from tunelab.report._chart import Chart
from tunelab.report._heatmap import Heatmap

if TYPE_CHECKING:
    from tunelab.report._evaluation import Fold

_MAX_CLASS_PLOTS = 12
# Scatter plots of regressors draw at most this many points (a random sample).
_MAX_POINTS = 4000
Codes = Sequence[tuple[np.ndarray, np.ndarray]]


def classification_sections(
    folds: Sequence[Fold], labels: Sequence[Any], codes: Codes
) -> list[h.Section]:
    """Confusion matrix, then ROC, precision–recall and calibration when scores exist."""
    names = [str(label) for label in labels]
    sections = [h.Section("Confusion matrix", _confusion(codes, names))]
    scored = [(i, f) for i, f in enumerate(folds) if f.score is not None]
    if not scored:
        message = "No fold has y_score: ROC, precision–recall and calibration need scores."
        return [*sections, h.Section("Score-based plots", h.note(message))]
    classes = [1] if len(names) == 2 else list(range(min(len(names), _MAX_CLASS_PLOTS)))
    sections.append(h.Section("ROC curves", _curve_body("roc", scored, codes, names, classes)))
    sections.append(
        h.Section("Precision–recall curves", _curve_body("pr", scored, codes, names, classes))
    )
    sections.append(h.Section("Calibration", _calibration(scored, codes, len(names) == 2)))
    return sections


def _confusion(codes: Codes, names: Sequence[str]) -> str:
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for true, pred in codes:
        np.add.at(matrix, (true, pred), 1)
    heat = Heatmap(
        name="confusion",
        title="Confusion matrix",
        matrix=matrix.tolist(),
        row_labels=names,
        col_labels=names,
        x_label="predicted",
        y_label="true",
    )
    caption = f"Counts summed over {len(codes)} fold(s); rows: true class, columns: predicted."
    return h.figure(heat.to_svg(), caption)


def _finite_rows(score: np.ndarray) -> np.ndarray:
    return np.isfinite(score).all(axis=1)


def _curve_body(
    kind: str,
    scored: Sequence[tuple[int, Fold]],
    codes: Codes,
    names: Sequence[str],
    classes: list[int],
) -> str:
    binary = len(names) == 2
    items, skipped = [], []
    for c in classes:
        chart = _curve_chart(kind, names, c, binary)
        for n, (i, fold) in enumerate(scored):
            assert fold.score is not None
            keep = _finite_rows(fold.score)
            ranking = curves.Ranking.of(codes[i][0][keep] == c, fold.score[keep, c])
            if not ranking.defined:
                skipped.append(f"fold {i}" + ("" if binary else f" / class {names[c]}"))
                continue
            curve = curves.roc(ranking) if kind == "roc" else curves.precision_recall(ranking)
            x, y = curves.thin(curve.x, curve.y)
            area = "AUC" if kind == "roc" else "AP"
            label = f"fold {i} ({area} {curve.area:.3f})"
            chart.line(x, y, color=svg.palette(n), label=label, css="curve", step=kind == "pr")
        items.append(h.figure(chart.to_svg()))
    body = h.figures(items)
    if not binary:
        body = '<p class="muted">One-vs-rest: each class against all others.</p>' + body
    if len(names) > len(classes) and not binary:
        body += h.note(f"Only the first {len(classes)} of {len(names)} classes are drawn.")
    if skipped:
        body += h.note("Left out (only one class present): " + ", ".join(skipped) + ".")
    return body


def _curve_chart(kind: str, names: Sequence[str], c: int, binary: bool) -> Chart:
    what = "ROC" if kind == "roc" else "Precision–recall"
    title = what if binary else f"{what}: {names[c]} vs rest"
    size = (520, 420) if binary else (400, 340)
    chart = Chart(
        name=kind,
        title=title,
        x_label="false positive rate" if kind == "roc" else "recall",
        y_label="true positive rate" if kind == "roc" else "precision",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        width=size[0],
        height=size[1],
    )
    if kind == "roc":
        chart.line([0, 1], [0, 1], color=svg.MUTED, label="chance", css="chance", dash="4 3")
    return chart


def _calibration(scored: Sequence[tuple[int, Fold]], codes: Codes, binary: bool) -> str:
    probs, hits = [], []
    for i, fold in scored:
        assert fold.score is not None
        keep = _finite_rows(fold.score)
        score, true = fold.score[keep], codes[i][0][keep]
        if binary:
            probs.append(score[:, 1])
            hits.append(true == 1)
        else:
            # Top-label calibration: confidence of the predicted class vs its accuracy.
            probs.append(score.max(axis=1))
            hits.append(score.argmax(axis=1) == true)
    bins = curves.calibration(np.concatenate(hits), np.clip(np.concatenate(probs), 0.0, 1.0))
    chart = Chart(
        name="calibration",
        title="Calibration (reliability diagram)",
        x_label="mean predicted probability" if binary else "mean confidence",
        y_label="observed frequency" if binary else "accuracy",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        width=520,
        height=420,
    )
    chart.line([0, 1], [0, 1], color=svg.MUTED, label="perfect", css="chance", dash="4 3")
    chart.line(bins.predicted, bins.observed, color=svg.PALETTE[0], css="calibration")
    tips = [
        f"predicted {p:.3f}, observed {o:.3f}, {n} samples"
        for p, o, n in zip(bins.predicted, bins.observed, bins.counts, strict=True)
    ]
    chart.points(
        bins.predicted, bins.observed, label="bin (10 equal-width)", tooltips=tips, css="bin"
    )
    what = "positive-class probability" if binary else "top-label confidence"
    caption = f"Pooled over {len(scored)} fold(s), {what} in 10 bins; hover for counts."
    return h.figure(chart.to_svg(), caption)


def regression_sections(folds: Sequence[Fold]) -> list[h.Section]:
    """Residuals against predictions, and predictions against the truth."""
    true = [np.asarray(f.y_true, dtype=float) for f in folds]
    pred = [np.asarray(f.y_pred, dtype=float) for f in folds]
    picks = _sample(true)
    residual = Chart(
        name="residuals",
        title="Residuals",
        x_label="predicted",
        y_label="residual (true − predicted)",
        width=560,
        height=400,
    )
    versus = Chart(
        name="predicted-vs-true",
        title="Predicted vs true",
        x_label="true",
        y_label="predicted",
        width=560,
        height=400,
    )
    for i, (t, p, keep) in enumerate(zip(true, pred, picks, strict=True)):
        color, label = svg.palette(i), f"fold {i}"
        residual.points(p[keep], (t - p)[keep], color=color, label=label, radius=2.5)
        versus.points(t[keep], p[keep], color=color, label=label, radius=2.5)
    lo, hi = _joint_range(true + pred)
    residual.line([lo, hi], [0, 0], color=svg.MUTED, css="zero", dash="4 3")
    versus.line(
        [lo, hi], [lo, hi], color=svg.MUTED, label="predicted = true", css="chance", dash="4 3"
    )
    body = h.figures([h.figure(residual.to_svg()), h.figure(versus.to_svg())])
    return [h.Section("Residuals and predictions", body + _regression_notes(true, pred, picks))]


def _sample(true: Sequence[np.ndarray]) -> list[np.ndarray]:
    total = sum(len(t) for t in true)
    if total <= _MAX_POINTS:
        return [np.arange(len(t)) for t in true]
    rng = np.random.default_rng(0)
    share = _MAX_POINTS / total
    return [np.sort(rng.choice(len(t), int(np.ceil(len(t) * share)), replace=False)) for t in true]


def _joint_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate(arrays)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)


def _regression_notes(
    true: Sequence[np.ndarray], pred: Sequence[np.ndarray], picks: Sequence[np.ndarray]
) -> str:
    notes = ""
    total = sum(len(t) for t in true)
    drawn = sum(len(k) for k in picks)
    if drawn < total:
        notes += h.note(f"A random sample of {drawn} of {total} points is drawn.")
    bad = sum(
        int((~np.isfinite(t) | ~np.isfinite(p)).sum()) for t, p in zip(true, pred, strict=True)
    )
    if bad:
        notes += h.note(f"{bad} point(s) with NaN or infinite values are not drawn.")
    return notes
