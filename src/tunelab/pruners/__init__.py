"""Pruners: stopping hopeless trials early."""

from tunelab.pruners._base import BasePruner
from tunelab.pruners._median import MedianPruner
from tunelab.pruners._nop import NopPruner

__all__ = ["BasePruner", "MedianPruner", "NopPruner"]
