"""Evaluation: exact fast metrics, confidence intervals, cross-validation, model comparison,
model explanations."""

from tunelab.evaluation import metrics
from tunelab.evaluation._compare import (
    Comparison,
    corrected_resampled_ttest,
    mcnemar_test,
    paired_ttest_5x2cv,
)
from tunelab.evaluation._comparison import ModelComparison, compare
from tunelab.evaluation._cv import Evaluation, FoldResult, evaluate
from tunelab.evaluation._explain import (
    Explanation,
    FeatureImportance,
    explain_model,
    permutation_importance,
)
from tunelab.evaluation._intervals import (
    Interval,
    bootstrap_interval,
    clopper_pearson_interval,
    score_bounds,
    t_interval,
    wilson_interval,
)

__all__ = [
    "Comparison",
    "Evaluation",
    "Explanation",
    "FeatureImportance",
    "FoldResult",
    "Interval",
    "ModelComparison",
    "bootstrap_interval",
    "clopper_pearson_interval",
    "compare",
    "corrected_resampled_ttest",
    "evaluate",
    "explain_model",
    "mcnemar_test",
    "metrics",
    "paired_ttest_5x2cv",
    "permutation_importance",
    "score_bounds",
    "t_interval",
    "wilson_interval",
]
