"""Search spaces: distributions, conditional spaces, unit-cube encoding, grids."""

from tunelab.space._declarative import SearchSpace, space_from_dict
from tunelab.space._distributions import (
    BaseDistribution,
    CategoricalChoice,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    check_distribution_compatibility,
    check_step_divides,
    distribution_from_json,
)
from tunelab.space._grid import grid_values, iter_grid
from tunelab.space._optuna import (
    DISTRIBUTION_CLASSES,
    DiscreteUniformDistribution,
    IntLogUniformDistribution,
    IntUniformDistribution,
    LogUniformDistribution,
    UniformDistribution,
    current_distribution,
    distribution_to_json,
    json_to_distribution,
)
from tunelab.space._transform import SearchSpaceTransform, from_unit

__all__ = [
    "DISTRIBUTION_CLASSES",
    "BaseDistribution",
    "CategoricalChoice",
    "CategoricalDistribution",
    "DiscreteUniformDistribution",
    "FloatDistribution",
    "IntDistribution",
    "IntLogUniformDistribution",
    "IntUniformDistribution",
    "LogUniformDistribution",
    "SearchSpace",
    "SearchSpaceTransform",
    "UniformDistribution",
    "check_compatible",
    "check_distribution_compatibility",
    "check_step_divides",
    "current_distribution",
    "distribution_from_json",
    "distribution_to_json",
    "from_unit",
    "grid_values",
    "iter_grid",
    "json_to_distribution",
    "space_from_dict",
]
