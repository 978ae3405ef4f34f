"""Feature scores for ``SelectKBest`` that stay quiet on constant features.

They live in the deploy layer because a fitted selection keeps a reference to its
score function: the artifact loader must trust them by name (see ``_trust``), and a
config study (``deploy.features``) puts them in the models it registers.
"""

from __future__ import annotations

import warnings
from typing import Any


def classification(X: Any, y: Any) -> tuple[Any, Any]:
    """ANOVA F scores of each feature, quietly.

    A feature constant on a fit's rows (a blank pixel) has no F score: scikit-learn
    warns on every fit and ranks it last, which is what a selection wants.
    """
    from sklearn.feature_selection import f_classif

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, RuntimeWarning))
        return f_classif(X, y)


def regression(X: Any, y: Any) -> tuple[Any, Any]:
    """F-regression scores of each feature, quietly (as :func:`classification`)."""
    from sklearn.feature_selection import f_regression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, RuntimeWarning))
        return f_regression(X, y)
