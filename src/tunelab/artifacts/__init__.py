"""Files attached to studies and trials (models, plots, logs), under Optuna's names.

Stores: :class:`FileSystemArtifactStore` (a directory) and :class:`Boto3ArtifactStore`
(an S3 bucket; the ``cloud`` extra), each wrappable in :class:`Backoff` for retries.
Models meant for serving belong in :class:`tunelab.deploy.Registry` instead: it
versions them and checks what it loads.
"""

from __future__ import annotations

from tunelab.artifacts._backoff import Backoff
from tunelab.artifacts._base import ArtifactNotFound, ArtifactStore
from tunelab.artifacts._boto3 import Boto3ArtifactStore
from tunelab.artifacts._filesystem import FileSystemArtifactStore
from tunelab.artifacts._meta import (
    ArtifactMeta,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)

__all__ = [
    "ArtifactMeta",
    "ArtifactNotFound",
    "ArtifactStore",
    "Backoff",
    "Boto3ArtifactStore",
    "FileSystemArtifactStore",
    "download_artifact",
    "get_all_artifact_meta",
    "upload_artifact",
]
