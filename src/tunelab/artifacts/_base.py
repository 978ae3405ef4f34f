"""The artifact store contract: where files attached to studies and trials live."""

from __future__ import annotations

from typing import BinaryIO, Protocol, runtime_checkable

from tunelab.exceptions import TunelabError


class ArtifactNotFound(TunelabError):
    """No artifact has the requested id in the store."""


@runtime_checkable
class ArtifactStore(Protocol):
    """Reads, writes and removes artifacts by id; Optuna's artifact-store protocol."""

    def open_reader(self, artifact_id: str) -> BinaryIO:
        """A binary file object reading the artifact; the caller closes it.

        Raises:
            ArtifactNotFound: No artifact has this id.
        """
        ...

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        """Store the bytes read from ``content_body`` under ``artifact_id``."""
        ...

    def remove(self, artifact_id: str) -> None:
        """Delete the artifact.

        Raises:
            ArtifactNotFound: No artifact has this id.
        """
        ...
