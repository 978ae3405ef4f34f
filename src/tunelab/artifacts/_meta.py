"""Attach files to studies and trials: upload, list and download, as Optuna does."""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from tunelab._validation import positional_as_keywords
from tunelab.artifacts._base import ArtifactStore
from tunelab.storage import BaseStorage, get_storage
from tunelab.study import Study
from tunelab.trial import FrozenTrial, Trial

# Optuna's key and value format, so tools that read Optuna's attributes find them.
ATTR_PREFIX = "artifacts:"
DEFAULT_MIME_TYPE = "application/octet-stream"


@dataclass
class ArtifactMeta:
    """What is recorded about one artifact.

    Attributes:
        artifact_id: Its id in the artifact store.
        filename: The uploaded file's base name.
        mimetype: Its MIME type (given, else guessed from the name).
        encoding: Its content encoding (e.g. ``gzip``), or None.
    """

    artifact_id: str
    filename: str
    mimetype: str
    encoding: str | None


@positional_as_keywords(["study_or_trial", "file_path", "artifact_store"], since="4.0.0")
def upload_artifact(
    *,
    artifact_store: ArtifactStore,
    file_path: str | os.PathLike[str],
    study_or_trial: Trial | FrozenTrial | Study,
    storage: BaseStorage | str | None = None,
    mimetype: str | None = None,
    encoding: str | None = None,
) -> str:
    """Store a file in ``artifact_store`` and record it on a study or trial.

    The file is written to the store first and recorded second, so a failure never
    leaves a record pointing at nothing.

    Args:
        artifact_store: Where the bytes go.
        file_path: The file to upload.
        study_or_trial: What the artifact belongs to; a running trial, a study, or a
            :class:`~tunelab.trial.FrozenTrial` (then ``storage`` is needed).
        storage: The storage (object or URL) holding a frozen trial.
        mimetype: MIME type; guessed from the file name when None.
        encoding: Content encoding; guessed from the file name when None.

    Returns:
        The new artifact's id.

    Raises:
        ValueError: A frozen trial without ``storage``.
        FileNotFoundError: ``file_path`` does not exist.
        UpdateFinishedTrialError: The trial has finished.
    """
    backend, record = _target(study_or_trial, storage)
    filename = os.path.basename(os.fspath(file_path))
    guessed_type, guessed_encoding = mimetypes.guess_type(filename)
    meta = ArtifactMeta(
        artifact_id=str(uuid.uuid4()),
        filename=filename,
        mimetype=mimetype or guessed_type or DEFAULT_MIME_TYPE,
        encoding=encoding or guessed_encoding,
    )
    with open(file_path, "rb") as body:
        artifact_store.write(meta.artifact_id, body)
    record(backend, ATTR_PREFIX + meta.artifact_id, json.dumps(asdict(meta)))
    return meta.artifact_id


def get_all_artifact_meta(
    study_or_trial: Trial | FrozenTrial | Study, *, storage: BaseStorage | str | None = None
) -> list[ArtifactMeta]:
    """The artifacts recorded on a study or trial, in upload order.

    A frozen trial is read as stored when ``storage`` is given, else as it was when
    the snapshot was taken.
    """
    if isinstance(study_or_trial, Study):
        attrs = study_or_trial._storage.get_study_attrs(study_or_trial._study_id, system=True)
    elif isinstance(study_or_trial, Trial):
        # A running trial's system_attrs are those it started with: read what is stored now.
        attrs = study_or_trial.study._storage.get_trial(study_or_trial.trial_id).system_attrs
    elif storage is not None:
        attrs = get_storage(storage).get_trial(study_or_trial.trial_id).system_attrs
    else:
        attrs = study_or_trial.system_attrs
    return [
        ArtifactMeta(**json.loads(value))
        for key, value in attrs.items()
        if key.startswith(ATTR_PREFIX)
    ]


def download_artifact(
    *, artifact_store: ArtifactStore, file_path: str | os.PathLike[str], artifact_id: str
) -> None:
    """Copy an artifact to ``file_path``, which must not exist yet.

    Written through a temporary file beside it, so an interrupted download leaves
    nothing at ``file_path``.

    Raises:
        FileExistsError: ``file_path`` exists.
        ArtifactNotFound: No artifact has this id.
    """
    target = os.fspath(file_path)
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; choose a new path")
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)))
    try:
        with artifact_store.open_reader(artifact_id) as source, os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(source, out)
        os.link(temporary, target)  # fails, rather than overwrites, if it appeared meanwhile
    finally:
        os.unlink(temporary)


def _target(study_or_trial: Any, storage: BaseStorage | str | None) -> tuple[BaseStorage, Any]:
    """The storage to write to and how to record an attribute on the owner."""
    if isinstance(study_or_trial, Study):
        study_id = study_or_trial._study_id
        return study_or_trial._storage, lambda b, k, v: b.set_study_attr(
            study_id, k, v, system=True
        )
    if isinstance(study_or_trial, Trial):
        trial_id = study_or_trial.trial_id
        return study_or_trial.study._storage, lambda b, k, v: b.set_trial_attr(
            trial_id, k, v, system=True
        )
    if isinstance(study_or_trial, FrozenTrial):
        if storage is None:
            raise ValueError("upload_artifact needs storage= for a FrozenTrial")
        trial_id = study_or_trial.trial_id
        return get_storage(storage), lambda b, k, v: b.set_trial_attr(trial_id, k, v, system=True)
    raise TypeError(
        f"study_or_trial must be a Study, Trial or FrozenTrial, got {type(study_or_trial).__name__}"
    )
