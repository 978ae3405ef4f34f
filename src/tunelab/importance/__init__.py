"""Parameter importances: which parameters of a study mattered to its objective.

:func:`get_param_importances` follows Optuna's function of the same name, with three
evaluators: :class:`PedAnovaImportanceEvaluator` (the default, fast at any number of
trials, conditional parameters included), :class:`FanovaImportanceEvaluator` and
:class:`MeanDecreaseImpurityImportanceEvaluator` (both on a random forest).
"""

from __future__ import annotations

from typing import Any

from tunelab.importance._base import BaseImportanceEvaluator, Target, check_params
from tunelab.importance._fanova import (
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
)
from tunelab.importance._ped_anova import PedAnovaImportanceEvaluator

__all__ = [
    "BaseImportanceEvaluator",
    "FanovaImportanceEvaluator",
    "MeanDecreaseImpurityImportanceEvaluator",
    "PedAnovaImportanceEvaluator",
    "get_param_importances",
]


def get_param_importances(
    study: Any,
    *,
    evaluator: BaseImportanceEvaluator | None = None,
    params: list[str] | None = None,
    target: Target | None = None,
    normalize: bool = True,
) -> dict[str, float]:
    """Importance of each parameter from the study's complete trials, highest first.

    Args:
        study: The :class:`~tunelab.Study` to analyse.
        evaluator: How to measure importance; :class:`PedAnovaImportanceEvaluator` when None.
        params: Parameters to assess. None means every parameter of a complete trial for
            PED-ANOVA, and those present in every complete trial for the forest evaluators.
        target: Value to explain per trial, e.g. ``lambda t: t.values[0]``; None for the
            objective value. The forest evaluators need it on a multi-objective study;
            PED-ANOVA treats a ``target`` as lower-is-better.
        normalize: Scale the importances to sum to 1 (all equal when every one is 0).

    Returns:
        Parameter name to importance, from most to least important.

    Raises:
        TypeError: ``evaluator`` is not an importance evaluator, or ``params`` is not a
            list of names.
        ValueError: A name in ``params`` is in no complete trial, or a forest evaluator got
            a multi-objective study without ``target``.
    """
    if evaluator is None:
        evaluator = PedAnovaImportanceEvaluator()
    if not isinstance(evaluator, BaseImportanceEvaluator):
        raise TypeError(
            "evaluator must be a tunelab.importance evaluator (PedAnovaImportanceEvaluator, "
            "FanovaImportanceEvaluator or MeanDecreaseImpurityImportanceEvaluator), "
            f"got {evaluator!r}"
        )
    params = check_params(params)
    if params == []:
        return {}
    raw = evaluator.evaluate(study, params, target=target)
    if not normalize:
        return raw
    total = sum(raw.values())
    if total <= 0.0:
        return {name: 1.0 / len(raw) for name in raw}
    return {name: value / total for name, value in raw.items()}
