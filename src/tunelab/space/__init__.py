"""Search spaces: distributions, conditional spaces, unit-cube encoding, grids."""

from tunelab.space._declarative import SearchSpace, space_from_dict
from tunelab.space._distributions import (
    BaseDistribution,
    CategoricalChoice,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    distribution_from_json,
)
from tunelab.space._grid import grid_values, iter_grid
from tunelab.space._transform import SearchSpaceTransform, from_unit

__all__ = [
    "BaseDistribution",
    "CategoricalChoice",
    "CategoricalDistribution",
    "FloatDistribution",
    "IntDistribution",
    "SearchSpace",
    "SearchSpaceTransform",
    "check_compatible",
    "distribution_from_json",
    "from_unit",
    "grid_values",
    "iter_grid",
    "space_from_dict",
]
