"""The types tunelab trusts when loading a skops file, decided here and never by a file.

skops already trusts scikit-learn's public estimators and plain NumPy/SciPy data. On
top of that tunelab trusts the data-holding internals that common fitted models carry
(decision trees, neighbour search trees, distance metrics, losses, MLP optimisers,
calibrators, Gaussian-process kernels, sparse matrices, dtypes) and a few pure
functions estimators store as parameters (feature-selection scores, ``numpy.mean``).

Trusted types that keep their structure in raw arrays (``Tree``, HistGradientBoosting's
``TreePredictor``, ``KDTree``, ``BallTree``, distance metrics, sparse matrices) are
checked after every load by :mod:`tunelab.deploy._structure`, since compiled code
walks those arrays without bounds checks: trusting a type means its objects may be
built, not that any bytes are. skops itself leaves ``TreePredictor`` untrusted for
that reason; the structural checks are what make it safe to trust here.

Deliberately *not* trusted: ``PyFuncDistance*`` (wraps an arbitrary Python function).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import cache
from types import ModuleType
from typing import Any


def _type_path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _subclasses_in(module: ModuleType, bases: Iterable[type], *, skip: str = "") -> list[str]:
    base_tuple = tuple(bases)
    return [
        _type_path(cls)
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, base_tuple)
        and cls not in base_tuple
        and not (skip and name.startswith(skip))
    ]


def _distance_metrics() -> list[str]:
    from sklearn.metrics import _dist_metrics

    bases = [getattr(_dist_metrics, name) for name in ("DistanceMetric32", "DistanceMetric64")]
    return _subclasses_in(_dist_metrics, bases, skip="PyFunc")


def _sparse_containers() -> list[str]:
    import scipy.sparse

    names = ("spmatrix", "sparray")
    bases = [getattr(scipy.sparse, name) for name in names if hasattr(scipy.sparse, name)]
    return _subclasses_in(scipy.sparse, bases)


def _losses_and_kernels() -> list[str]:
    from sklearn._loss import loss
    from sklearn.gaussian_process import kernels

    return [
        *_subclasses_in(loss, [loss.BaseLoss]),
        *_subclasses_in(kernels, [kernels.Kernel]),
    ]


def _internal_classes() -> list[str]:
    from sklearn.calibration import _CalibratedClassifier, _SigmoidCalibration
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.gaussian_process._gpc import _BinaryGaussianProcessClassifierLaplace
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
    from sklearn.tree._tree import Tree

    classes = (
        Tree,
        TreePredictor,
        KDTree,
        BallTree,
        AdamOptimizer,
        SGDOptimizer,
        _CalibratedClassifier,
        _SigmoidCalibration,
        _BinaryGaussianProcessClassifierLaplace,
    )
    return [_type_path(cls) for cls in classes]


def _functions() -> list[str]:
    import numpy as np
    from sklearn import feature_selection

    from tunelab.deploy import feature_scores

    scores = ("f_classif", "f_regression", "chi2", "r_regression")
    return [
        _type_path(np.mean),
        *(_type_path(getattr(feature_selection, s)) for s in scores),
        _type_path(feature_scores.classification),
        _type_path(feature_scores.regression),
    ]


@cache
def trusted_types() -> tuple[str, ...]:
    """Fully qualified names of the extra types tunelab lets skops load."""
    import numpy as np

    names = [
        _type_path(np.dtype),
        *_internal_classes(),
        *_distance_metrics(),
        *_sparse_containers(),
        *_losses_and_kernels(),
        *_functions(),
    ]
    return tuple(sorted(set(names)))
