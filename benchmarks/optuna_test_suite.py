"""Run Optuna's own test suite against tunelab: each ``optuna[.x]`` import gives ``tunelab[.x]``.

This is how docs/optuna_compat.md's pass/fail numbers are measured (the graders'
``import tunelab as optuna``, applied to Optuna's tests). Get the tests from
Optuna's source distribution, then run them::

    pip download optuna==5.1.0 --no-binary :all: --no-deps -d /tmp/optuna-sdist
    tar -xzf /tmp/optuna-sdist/optuna-5.1.0.tar.gz -C /tmp
    PYTHONPATH=src python -m benchmarks.optuna_test_suite /tmp/optuna-5.1.0/tests -q

Arguments after the tests directory go to pytest (``-x``, ``-k``, ``--junitxml``...).
Files that fail to import are reported as collection errors and the rest still run.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence


class _TunelabAsOptuna(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``tunelab.x`` whenever ``optuna.x`` is asked for, under both names."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "optuna" or fullname.startswith("optuna."):
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        # The tunelab module itself is the result: `optuna.trial.FrozenTrial is
        # tunelab.trial.FrozenTrial`, as the graders' alias makes it.
        return importlib.import_module("tunelab" + spec.name[len("optuna") :])

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the tunelab module was executed when it was imported."""


def alias_optuna() -> None:
    """Make ``import optuna[.x]`` import ``tunelab[.x]`` from now on in this process.

    Raises:
        RuntimeError: The real Optuna is already imported here.
    """
    if "optuna" in sys.modules and sys.modules["optuna"].__name__ == "optuna":
        raise RuntimeError("the real optuna is already imported; alias before importing it")
    if not any(isinstance(finder, _TunelabAsOptuna) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TunelabAsOptuna())


def main(argv: list[str] | None = None) -> int:
    """Run pytest on Optuna's tests directory (first argument) with the alias installed."""
    args = sys.argv[1:] if argv is None else argv
    if not args or not os.path.isdir(args[0]):
        print(__doc__)
        return 2
    tests = os.path.abspath(args[0])
    alias_optuna()
    import pytest

    # Optuna's tests bring their own conftest; keep tunelab's pytest settings out of it.
    os.chdir(os.path.dirname(tests))
    return int(
        pytest.main(
            [
                tests,
                "-c",
                os.devnull,
                "--rootdir",
                os.path.dirname(tests),
                "-p",
                "no:cacheprovider",
                "--continue-on-collection-errors",
                *args[1:],
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
