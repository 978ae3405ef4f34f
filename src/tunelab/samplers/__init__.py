"""Samplers: how a study chooses the parameters of its next trial."""

from tunelab.samplers._base import BaseSampler
from tunelab.samplers._cmaes import CmaEsSampler
from tunelab.samplers._gp import GPSampler
from tunelab.samplers._grid import GridSampler
from tunelab.samplers._nsga2 import NSGAIISampler
from tunelab.samplers._qmc import QMCSampler
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space

__all__ = [
    "BaseSampler",
    "CmaEsSampler",
    "GPSampler",
    "GridSampler",
    "NSGAIISampler",
    "QMCSampler",
    "RandomSampler",
    "intersection_search_space",
]
