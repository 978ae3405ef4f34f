"""Classifier curves computed with numpy: ROC, precision–recall and calibration bins.

ROC and precision–recall share one descending sort of the scores: the cumulative
counts of positives and negatives at each distinct threshold give both curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Curves with more vertices than this are thinned for drawing (areas use every vertex).
MAX_VERTICES = 400


@dataclass(frozen=True)
class Curve:
    """Vertices of a curve and the area under it."""

    x: np.ndarray
    y: np.ndarray
    area: float


@dataclass(frozen=True)
class Ranking:
    """True and false positives above each distinct score threshold, highest first."""

    tps: np.ndarray
    fps: np.ndarray
    positives: int
    negatives: int

    @classmethod
    def of(cls, positive: np.ndarray, score: np.ndarray) -> Ranking:
        """Rank ``score`` (finite values only) against the boolean ``positive``."""
        order = np.argsort(-score, kind="mergesort")
        ranked_scores, hits = score[order], positive[order]
        # Last position of each run of equal scores: ties share one threshold.
        ends = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(score) - 1]
        tps = np.cumsum(hits)[ends].astype(float)
        fps = (ends + 1) - tps
        n_pos = int(hits.sum())
        return cls(tps, fps, n_pos, len(score) - n_pos)

    @property
    def defined(self) -> bool:
        """Whether both classes occur (the curves need both)."""
        return self.positives > 0 and self.negatives > 0


def roc(ranking: Ranking) -> Curve:
    """False-positive rate against true-positive rate, from (0, 0) to (1, 1); area = AUC."""
    fpr = np.r_[0.0, ranking.fps / ranking.negatives]
    tpr = np.r_[0.0, ranking.tps / ranking.positives]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return Curve(fpr, tpr, area)


def precision_recall(ranking: Ranking) -> Curve:
    """Recall against precision; area = average precision (step-wise, no interpolation)."""
    recall = ranking.tps / ranking.positives
    precision = ranking.tps / (ranking.tps + ranking.fps)
    area = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return Curve(np.r_[0.0, recall], np.r_[1.0, precision], area)


@dataclass(frozen=True)
class Calibration:
    """Per non-empty bin: mean predicted probability, observed frequency, count."""

    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray


def calibration(hit: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> Calibration:
    """Reliability diagram data with ``n_bins`` equal-width bins over [0, 1]."""
    bins = np.clip((probability * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    sums = np.bincount(bins, weights=probability, minlength=n_bins)
    hits = np.bincount(bins, weights=hit.astype(float), minlength=n_bins)
    used = counts > 0
    return Calibration(sums[used] / counts[used], hits[used] / counts[used], counts[used])


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_VERTICES) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` evenly spread vertices, always keeping both ends."""
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]
