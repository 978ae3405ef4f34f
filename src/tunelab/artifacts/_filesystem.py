"""Artifacts as files in one directory (local disk or a shared file system)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from tunelab.artifacts._base import ArtifactNotFound


class FileSystemArtifactStore:
    """Keep each artifact as a file named by its id under ``base_path``.

    Writes go to a temporary file in the same directory and are renamed into
    place, so a reader never sees half an artifact and a crash mid-upload leaves
    no file under the id.

    Args:
        base_path: The directory; it must exist.

    Raises:
        ValueError: (from each method) an id that is empty, absolute, or would lead
            outside ``base_path``.
    """

    def __init__(self, base_path: str | os.PathLike[str]) -> None:
        self._base_path = Path(base_path)

    def _path(self, artifact_id: str) -> Path:
        if not artifact_id or os.path.isabs(artifact_id):
            raise ValueError(f"invalid artifact_id {artifact_id!r}: a relative name is expected")
        base = os.path.abspath(self._base_path)
        path = os.path.abspath(os.path.join(base, artifact_id))
        if os.path.commonpath([base, path]) != base or path == base:
            raise ValueError(f"invalid artifact_id {artifact_id!r}: it leads outside {base}")
        return Path(path)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        path = self._path(artifact_id)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {artifact_id!r} in {self._base_path}") from None

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        path = self._path(artifact_id)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(content_body, out)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise

    def remove(self, artifact_id: str) -> None:
        try:
            os.remove(self._path(artifact_id))
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact {artifact_id!r} in {self._base_path}") from None
