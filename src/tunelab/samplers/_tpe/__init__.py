"""Tree-structured Parzen Estimator: model-based search over mixed and conditional spaces."""

from tunelab.samplers._tpe._sampler import TPESampler

__all__ = ["TPESampler"]
