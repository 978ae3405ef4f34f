"""The exceptions tunelab raises; all derive from :class:`TunelabError`.

Optuna's names are here too (``OptunaError``, ``StorageInternalError``,
``CLIUsageError``, ``ExperimentalWarning``), so ``except`` clauses written
for Optuna catch tunelab's errors.
"""

from __future__ import annotations


class TunelabError(Exception):
    """Root of every tunelab-specific error."""


OptunaError = TunelabError
"""Optuna's name for the root error class."""


class TrialPruned(TunelabError):
    """Raised inside an objective to stop a trial that a pruner judged hopeless."""


def is_trial_pruned(exc: BaseException) -> bool:
    """Whether ``exc`` prunes a trial: tunelab's :class:`TrialPruned`, or Optuna's.

    Optuna's integration callbacks (``optuna_integration``: LightGBM, XGBoost, Keras...)
    only report to and query the trial they are given, so they run on tunelab trials,
    but they raise Optuna's own ``TrialPruned``; it is recognised by name and module,
    without importing Optuna.
    """
    if isinstance(exc, TrialPruned):
        return True
    return any(
        cls.__name__ == "TrialPruned" and cls.__module__.split(".")[0] in _OPTUNA_MODULES
        for cls in type(exc).__mro__
    )


_OPTUNA_MODULES = frozenset({"optuna", "optuna_integration"})


class CLIUsageError(TunelabError):
    """The command line was used wrongly."""


class StorageError(TunelabError):
    """A storage could not be opened or used."""


class StorageInternalError(StorageError):
    """A storage failed inside (a database error, a broken connection)."""


class DuplicatedStudyError(StorageError):
    """A study of that name already exists (pass ``load_if_exists=True`` to reuse it)."""


class StudyNotFoundError(StorageError, KeyError):
    """No study of that name or id exists in the storage.

    It is also a ``KeyError``, which is what Optuna raises here: code written
    as ``except KeyError:`` around ``load_study`` keeps working.
    """

    def __str__(self) -> str:
        # KeyError quotes its message; this one is a sentence.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class SchemaVersionError(StorageError):
    """The database was written by another version of tunelab's schema."""


class UpdateFinishedTrialError(StorageError, ValueError):
    """A write targeted a trial that has already finished.

    It is also a ``ValueError``, which is what Optuna's ``Study.tell`` raises
    for a finished trial.
    """


class ExperimentalWarning(Warning):
    """An interface may still change in a later release without deprecation."""
