"""Pruners: stopping hopeless trials early."""

from tunelab.pruners._base import BasePruner
from tunelab.pruners._curve import LearningCurvePruner
from tunelab.pruners._hyperband import HyperbandPruner
from tunelab.pruners._median import MedianPruner
from tunelab.pruners._nop import NopPruner
from tunelab.pruners._patient import PatientPruner
from tunelab.pruners._percentile import PercentilePruner
from tunelab.pruners._successive_halving import SuccessiveHalvingPruner
from tunelab.pruners._threshold import ThresholdPruner
from tunelab.pruners._wilcoxon import WilcoxonPruner

__all__ = [
    "BasePruner",
    "HyperbandPruner",
    "LearningCurvePruner",
    "MedianPruner",
    "NopPruner",
    "PatientPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
    "WilcoxonPruner",
]
