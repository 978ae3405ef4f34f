"""Artifact errors under Optuna's public module name (``optuna.artifacts.exceptions``)."""

from __future__ import annotations

from tunelab.artifacts._base import ArtifactNotFound

__all__ = ["ArtifactNotFound"]
