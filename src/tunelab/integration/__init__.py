"""Faces of tunelab for other libraries' users.

:class:`OptunaSearchCV` is Optuna's scikit-learn search estimator
(``optuna.integration.OptunaSearchCV``) with the same signature and results,
running on tunelab's studies.
"""

from __future__ import annotations

from tunelab.integration._search_cv import OptunaSearchCV

__all__ = ["OptunaSearchCV"]
