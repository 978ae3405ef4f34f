"""Fair comparison of two models: the same splits, then tests that account for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.evaluation._compare import Comparison, corrected_resampled_ttest, mcnemar_test
from tunelab.evaluation._cv import Evaluation, MetricSpec, evaluate, make_splits


@dataclass(frozen=True)
class ModelComparison:
    """Two models evaluated on identical splits, and the verdict.

    Attributes:
        metric: The metric compared (scorer convention: higher is better).
        a: Evaluation of the first model.
        b: Evaluation of the second model.
        ttest: Nadeau & Bengio's corrected resampled t-test on the fold scores.
        mcnemar: McNemar's test on out-of-fold predictions (classifiers whose
            splits test every sample once), else None.
    """

    metric: str
    a: Evaluation
    b: Evaluation
    ttest: Comparison
    mcnemar: Comparison | None

    @property
    def better(self) -> str | None:
        """ "a" or "b" when the corrected t-test finds a significant difference."""
        return self.ttest.better

    @property
    def difference(self) -> float:
        """Mean fold score of a minus b."""
        return self.ttest.mean_difference

    def __str__(self) -> str:
        ci = self.ttest.interval
        verdict = {"a": "model a is better", "b": "model b is better"}.get(
            str(self.better), "no significant difference"
        )
        bounds = "" if ci is None else f", {ci.confidence:.0%} CI [{ci.low:+.4g}, {ci.high:+.4g}]"
        return (
            f"{self.metric}: a={self.a.mean(self.metric):.4g}, b={self.b.mean(self.metric):.4g}, "
            f"difference {self.difference:+.4g}{bounds}, p={self.ttest.p_value:.3g}: {verdict}"
        )


def compare(
    model_a: Any,
    model_b: Any,
    X: Any,
    y: Any,
    *,
    cv: Any = None,
    metric: MetricSpec = "accuracy",
    groups: Any = None,
    alpha: float = 0.05,
) -> ModelComparison:
    """Compare two estimators on the same cross-validation splits.

    Args:
        model_a: First estimator.
        model_b: Second estimator.
        X: Features.
        y: Targets.
        cv: Splits shared by both models; by default 5 x 2 repeated
            (stratified for classifiers) k-fold with a fixed seed, which gives
            the corrected t-test enough paired scores.
        metric: The metric to compare on.
        groups: Group labels for group splitters.
        alpha: Significance level.

    Returns:
        A :class:`ModelComparison`; ``str()`` gives a one-line verdict.
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    if cv is None:
        repeated = RepeatedStratifiedKFold if is_classifier(model_a) else RepeatedKFold
        cv = repeated(n_splits=5, n_repeats=2, random_state=0)
    splits = make_splits(model_a, X, y, cv, groups)
    a = evaluate(model_a, X, y, cv=splits, metrics=metric, prune=False)
    b = evaluate(model_b, X, y, cv=splits, metrics=metric, prune=False)
    name = a.metrics[0]
    n_test = int(np.mean([len(te) for _, te in splits]))
    n_train = int(np.mean([len(tr) for tr, _ in splits]))
    ttest = corrected_resampled_ttest(a.scores(name), b.scores(name), n_train, n_test, alpha=alpha)
    return ModelComparison(name, a, b, ttest, _mcnemar(a, b, y, splits, alpha))


def _mcnemar(
    a: Evaluation, b: Evaluation, y: Any, splits: list[tuple[np.ndarray, np.ndarray]], alpha: float
) -> Comparison | None:
    """McNemar on the first pass of splits that tests every sample exactly once."""
    n = a.n_samples
    covered = np.zeros(n, dtype=int)
    first: list[int] = []
    for i, (_, test) in enumerate(splits):
        if covered[test].any():
            break
        covered[test] += 1
        first.append(i)
    if not (covered == 1).all() or a.folds[0].predictions is None:
        return None
    pred_a = np.empty(n, dtype=a.folds[0].predictions.dtype)
    pred_b = np.empty_like(pred_a)
    for i in first:
        pred_a[a.folds[i].test_index] = a.folds[i].predictions
        pred_b[b.folds[i].test_index] = b.folds[i].predictions
    y_arr = np.asarray(y)
    if y_arr.dtype.kind == "f" and pred_a.dtype.kind == "f":
        return None  # regression: McNemar needs right/wrong outcomes
    return mcnemar_test(y_arr, pred_a, pred_b, alpha=alpha)
