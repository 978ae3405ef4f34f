"""Parameter distributions under Optuna's module name (``optuna.distributions``).

The classes are those of :mod:`tunelab.space`; this module adds nothing but
the names Optuna code imports from here.
"""

from __future__ import annotations

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
    distribution_to_json,
    json_to_distribution,
)
from tunelab.space import CategoricalChoice as CategoricalChoiceType

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
