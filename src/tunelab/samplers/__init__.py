"""Samplers: how a study chooses the parameters of its next trial."""

from tunelab.samplers._base import BaseSampler
from tunelab.samplers._grid import GridSampler
from tunelab.samplers._qmc import QMCSampler
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space

__all__ = [
    "BaseSampler",
    "GridSampler",
    "QMCSampler",
    "RandomSampler",
    "intersection_search_space",
]
