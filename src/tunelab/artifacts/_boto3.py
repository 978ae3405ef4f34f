"""Artifacts as objects in an S3 bucket (AWS or any S3-compatible endpoint)."""

from __future__ import annotations

import io
import shutil
from typing import Any, BinaryIO

from tunelab._imports import optional_import
from tunelab.artifacts._base import ArtifactNotFound

_MISSING = ("NoSuchKey", "404", "NotFound")


class Boto3ArtifactStore:
    """Keep each artifact as the object named by its id in ``bucket_name``.

    Args:
        bucket_name: The bucket; it must exist.
        client: A boto3 S3 client (``boto3.client("s3", endpoint_url=...)``); a
            default client is made when None.
        avoid_buf_copy: Upload the caller's file object directly instead of a copy
            in memory (boto3 closes the object it uploads).
    """

    def __init__(
        self, bucket_name: str, client: Any = None, *, avoid_buf_copy: bool = False
    ) -> None:
        self.bucket = bucket_name
        if client is None:
            client = optional_import("boto3", extra="cloud", purpose="Boto3ArtifactStore").client(
                "s3"
            )
        self.client = client
        self._avoid_buf_copy = avoid_buf_copy

    def open_reader(self, artifact_id: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=artifact_id)
        except Exception as exc:
            _raise_if_missing(exc, artifact_id, self.bucket)
            raise
        body: BinaryIO = answer["Body"]
        return body

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        body = content_body
        if not self._avoid_buf_copy:
            # upload_fileobj closes what it reads: keep the caller's object open.
            body = io.BytesIO()
            shutil.copyfileobj(content_body, body)
            body.seek(0)
        self.client.upload_fileobj(body, self.bucket, artifact_id)

    def remove(self, artifact_id: str) -> None:
        # S3 deletes are idempotent, so ask first to report a missing id as Optuna does.
        try:
            self.client.head_object(Bucket=self.bucket, Key=artifact_id)
        except Exception as exc:
            _raise_if_missing(exc, artifact_id, self.bucket)
            raise
        self.client.delete_object(Bucket=self.bucket, Key=artifact_id)


def _raise_if_missing(exc: Exception, artifact_id: str, bucket: str) -> None:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in _MISSING:
        raise ArtifactNotFound(f"no artifact {artifact_id!r} in bucket {bucket!r}") from exc
