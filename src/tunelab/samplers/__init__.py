"""Samplers: how a study chooses the parameters of its next trial."""

from __future__ import annotations

import importlib
from typing import Any

from tunelab.samplers._base import BaseSampler
from tunelab.samplers._brute_force import BruteForceSampler
from tunelab.samplers._cmaes import CmaEsSampler
from tunelab.samplers._grid import GridSampler
from tunelab.samplers._nsga2 import NSGAIISampler
from tunelab.samplers._partial_fixed import PartialFixedSampler
from tunelab.samplers._qmc import QMCSampler
from tunelab.samplers._random import RandomSampler
from tunelab.samplers._search_space import intersection_search_space

# The model-based samplers need scipy.optimize and scipy.linalg (about two seconds
# to import): load them when first asked for.
_LAZY = {
    "AutoSampler": "tunelab.samplers._auto",
    "BOHBSampler": "tunelab.samplers._bohb",
    "GPSampler": "tunelab.samplers._gp",
    "MultiFidelityGPSampler": "tunelab.samplers._gp",
    "NSGAIIISampler": "tunelab.samplers._nsga3",
    "TPESampler": "tunelab.samplers._tpe",
}

__all__ = [
    "AutoSampler",
    "BOHBSampler",
    "BaseSampler",
    "BruteForceSampler",
    "CmaEsSampler",
    "GPSampler",
    "GridSampler",
    "MultiFidelityGPSampler",
    "NSGAIIISampler",
    "NSGAIISampler",
    "PartialFixedSampler",
    "QMCSampler",
    "RandomSampler",
    "TPESampler",
    "intersection_search_space",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tunelab.samplers' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
