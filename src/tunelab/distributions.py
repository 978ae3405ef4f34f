"""Parameter distributions under Optuna's module name (``optuna.distributions``).

The classes are those of :mod:`tunelab.space`; this module adds nothing but
the names Optuna code imports from here.
"""

from __future__ import annotations

import warnings

from tunelab.space import (
    DISTRIBUTION_CLASSES,
    BaseDistribution,
    CategoricalDistribution,
    DiscreteUniformDistribution,
    FloatDistribution,
    IntDistribution,
    IntLogUniformDistribution,
    IntUniformDistribution,
    LogUniformDistribution,
    UniformDistribution,
    check_distribution_compatibility,
    current_distribution,
    distribution_to_json,
    json_to_distribution,
)
from tunelab.space import CategoricalChoice as CategoricalChoiceType


def _convert_old_distribution_to_new_distribution(
    distribution: BaseDistribution, suppress_warning: bool = False
) -> BaseDistribution:
    """The current class of a deprecated distribution, under Optuna's private name.

    Plugins (``optuna-integration``'s ``OptunaSearchCV``) call it on the
    distributions users pass; it is :func:`tunelab.space.current_distribution`,
    warning when it converts unless ``suppress_warning``.
    """
    current = current_distribution(distribution)
    if current is not distribution and not suppress_warning:
        warnings.warn(
            f"{type(distribution).__name__} is deprecated; it is used as {current!r}",
            FutureWarning,
            stacklevel=2,
        )
    return current


__all__ = [
    "DISTRIBUTION_CLASSES",
    "BaseDistribution",
    "CategoricalChoiceType",
    "CategoricalDistribution",
    "DiscreteUniformDistribution",
    "FloatDistribution",
    "IntDistribution",
    "IntLogUniformDistribution",
    "IntUniformDistribution",
    "LogUniformDistribution",
    "UniformDistribution",
    "check_distribution_compatibility",
    "distribution_to_json",
    "json_to_distribution",
]
