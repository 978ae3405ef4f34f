"""The artifact store contract under the module path Optuna plugins import it from.

``optuna-dashboard`` and custom stores written for Optuna import
``ArtifactStore`` from ``optuna.artifacts._protocol``; it is
:class:`tunelab.artifacts.ArtifactStore`.
"""

from __future__ import annotations

from tunelab.artifacts._base import ArtifactStore

__all__ = ["ArtifactStore"]
