"""The exceptions tunelab raises; all derive from :class:`TunelabError`."""

from __future__ import annotations


class TunelabError(Exception):
    """Root of every tunelab-specific error."""


class TrialPruned(TunelabError):
    """Raised inside an objective to stop a trial that a pruner judged hopeless."""


class StorageError(TunelabError):
    """A storage could not be opened or used."""


class DuplicatedStudyError(StorageError):
    """A study of that name already exists (pass ``load_if_exists=True`` to reuse it)."""


class StudyNotFoundError(StorageError):
    """No study of that name or id exists in the storage."""


class SchemaVersionError(StorageError):
    """The database was written by another version of tunelab's schema."""


class UpdateFinishedTrialError(StorageError):
    """A write targeted a trial that has already finished."""
