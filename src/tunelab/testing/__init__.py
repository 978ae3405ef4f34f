"""Helpers for testing samplers, pruners and objectives written for tunelab (or Optuna).

The modules mirror ``optuna.testing`` so that plug-in test suites run
unchanged: :mod:`tunelab.testing.samplers` (``DeterministicSampler``),
:mod:`tunelab.testing.pruners` (``DeterministicPruner``),
:mod:`tunelab.testing.storages` (``StorageSupplier``, ``STORAGE_MODES``),
:mod:`tunelab.testing.objectives` (``fail_objective``, ``pruned_objective``) and
:mod:`tunelab.testing.tempfile_pool` (``NamedTemporaryFilePool``).
"""

from tunelab.testing.objectives import fail_objective, pruned_objective
from tunelab.testing.pruners import DeterministicPruner
from tunelab.testing.samplers import DeterministicSampler
from tunelab.testing.storages import STORAGE_MODES, StorageSupplier

__all__ = [
    "STORAGE_MODES",
    "DeterministicPruner",
    "DeterministicSampler",
    "StorageSupplier",
    "fail_objective",
    "pruned_objective",
]
