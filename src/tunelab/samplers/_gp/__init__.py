"""Gaussian-process Bayesian optimisation (numpy and scipy only)."""

from tunelab.samplers._gp._multi_fidelity import MultiFidelityGPSampler
from tunelab.samplers._gp._sampler import GPSampler

__all__ = ["GPSampler", "MultiFidelityGPSampler"]
