"""The helpers Optuna plugins import from Optuna's private modules work against tunelab.

``optuna-integration`` and OptunaHub packages guard optional imports with
``optuna._imports.try_import`` and mark their features with ``optuna._experimental``
and ``optuna._deprecated``; tunelab has the same modules, so they import unchanged
with ``optuna`` aliased to ``tunelab``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

import tunelab
from tests.optuna_compat.libraries import LIBRARIES
from tunelab import _deprecated, _experimental
from tunelab._imports import try_import
from tunelab.exceptions import ExperimentalWarning


def test_try_import_holds_back_import_errors_until_checked() -> None:
    with try_import() as fine:
        import json  # noqa: F401
    assert fine.is_successful()
    fine.check()

    with try_import() as missing:
        import tunelab_no_such_package  # type: ignore[import-not-found]  # noqa: F401
    assert not missing.is_successful()
    with pytest.raises(ImportError, match="tunelab_no_such_package"):
        missing.check()

    with pytest.raises(KeyError), try_import() as other:
        raise KeyError("not an import problem")
    assert other.is_successful()


def test_experimental_decorators_warn_on_use_and_note_the_docstring() -> None:
    @_experimental.experimental_func("1.2.0")
    def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    @_experimental.experimental_class("0.3.1", name="Custom")
    class Thing:
        def __init__(self, value: int) -> None:
            self.value = value

    with pytest.warns(ExperimentalWarning, match="double"):
        assert double(3) == 6
    with pytest.warns(ExperimentalWarning, match="Custom"):
        assert Thing(4).value == 4
    assert double.__name__ == "double" and "Twice x." in (double.__doc__ or "")
    assert "1.2.0" in (double.__doc__ or "") and "0.3.1" in (Thing.__doc__ or "")
    for bad in ("1.2", 1, None):
        with pytest.raises(ValueError, match="version"):
            _experimental.experimental_func(bad)  # type: ignore[arg-type]


def test_deprecated_decorators_warn_with_both_versions() -> None:
    @_deprecated.deprecated_func("1.0.0", "2.0.0", text="Use triple instead.")
    def double(x: int) -> int:
        return 2 * x

    @_deprecated.deprecated_class("1.0.0", "3.0.0")
    class Old:
        def __init__(self, value: int) -> None:
            self.value = value

    with pytest.warns(FutureWarning) as record:
        assert double(2) == 4
    message = str(record[0].message)
    assert "double" in message and "1.0.0" in message and "2.0.0" in message
    assert message.endswith("Use triple instead.")
    with pytest.warns(FutureWarning, match="Old"):
        assert Old(5).value == 5
    with pytest.raises(ValueError, match="removed_version"):
        _deprecated.deprecated_func("2.0.0", "1.0.0")
    with pytest.raises(ValueError, match="deprecated_version"):
        _deprecated.deprecated_class("2.0", "3.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _deprecated.deprecated_func("1.0.0", "2.0.0")  # declaring one does not warn


@pytest.mark.parametrize("lib", LIBRARIES)
def test_old_distributions_convert_to_the_current_classes(lib: types.ModuleType) -> None:
    dists = lib.distributions
    convert = dists._convert_old_distribution_to_new_distribution
    with pytest.warns(FutureWarning):
        old = [
            dists.UniformDistribution(0, 10),
            dists.LogUniformDistribution(1, 10),
            dists.DiscreteUniformDistribution(0, 10, 2),
            dists.IntUniformDistribution(0, 10, 2),
            dists.IntLogUniformDistribution(1, 10),
        ]
    with pytest.warns(FutureWarning):
        converted = [convert(d) for d in old]
    assert [type(d) for d in converted] == [dists.FloatDistribution] * 3 + [
        dists.IntDistribution
    ] * 2
    assert converted[1] == dists.FloatDistribution(1, 10, log=True)
    assert converted[2] == dists.FloatDistribution(0, 10, step=2)
    assert converted[3] == dists.IntDistribution(0, 10, step=2)
    current = [dists.FloatDistribution(0, 1), dists.CategoricalDistribution(["a", "b"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [convert(d) for d in current] == current
        convert(old[0], suppress_warning=True)


PRIVATE_PATHS = [
    ("study.study", "Study", "study.Study"),
    ("study.study", "create_study", "study.create_study"),
    ("study._study_direction", "StudyDirection", "study.StudyDirection"),
    ("trial._state", "TrialState", "trial.TrialState"),
    ("trial._frozen", "FrozenTrial", "trial.FrozenTrial"),
    ("trial._frozen", "create_trial", "trial.create_trial"),
    ("trial._trial", "Trial", "trial.Trial"),
    ("trial._base", "BaseTrial", "trial.BaseTrial"),
    ("trial._fixed", "FixedTrial", "trial.FixedTrial"),
    ("terminator.callback", "TerminatorCallback", "terminator.TerminatorCallback"),
    ("terminator.terminator", "Terminator", "terminator.Terminator"),
    ("terminator.erroreval", "StaticErrorEvaluator", "terminator.StaticErrorEvaluator"),
    ("terminator.median_erroreval", "MedianErrorEvaluator", "terminator.MedianErrorEvaluator"),
    ("terminator.improvement.evaluator", "RegretBoundEvaluator", "terminator.RegretBoundEvaluator"),
    ("terminator.improvement.emmr", "EMMREvaluator", "terminator.EMMREvaluator"),
]


@pytest.mark.parametrize(("path", "name", "public"), PRIVATE_PATHS)
@pytest.mark.parametrize("lib", LIBRARIES)
def test_module_paths_plugins_import_name_the_public_objects(
    lib: types.ModuleType, path: str, name: str, public: str
) -> None:
    module = importlib.import_module(f"{lib.__name__}.{path}")
    owner, attr = public.split(".")
    assert getattr(module, name) is getattr(getattr(lib, owner), attr)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_emmr_says_do_not_stop_with_the_value_optuna_names(lib: types.ModuleType) -> None:
    emmr = importlib.import_module(f"{lib.__name__}.terminator.improvement.emmr")
    study = lib.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # too few to judge
    evaluator = lib.terminator.EMMREvaluator(min_n_trials=5)
    criterion = evaluator.evaluate(study.trials, study.direction)
    assert criterion == sys.float_info.max * emmr.MARGIN_FOR_NUMARICAL_STABILITY


@pytest.mark.parametrize("lib", LIBRARIES)
def test_cross_validation_scores_are_stored_where_optuna_keeps_them(lib: types.ModuleType) -> None:
    erroreval = importlib.import_module(f"{lib.__name__}.terminator.erroreval")
    study = lib.create_study()
    trial = study.ask()
    lib.terminator.report_cross_validation_scores(trial, [0.5, 0.7])
    study.tell(trial, 0.6)
    assert study.trials[0].system_attrs[erroreval._CROSS_VALIDATION_SCORES_KEY] == [0.5, 0.7]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_constraints_are_stored_under_the_key_plugins_read(lib: types.ModuleType) -> None:
    key = importlib.import_module(f"{lib.__name__}.study._constrained_optimization")
    sampler = lib.samplers.TPESampler(constraints_func=lambda t: [t.params["x"] - 0.5], seed=0)
    study = lib.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    for trial in study.trials:
        assert list(trial.system_attrs[key._CONSTRAINTS_KEY]) == [trial.params["x"] - 0.5]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_artifact_modules_plugins_import(lib: types.ModuleType, tmp_path: Path) -> None:
    exceptions = importlib.import_module(lib.__name__ + ".artifacts.exceptions")
    protocol = importlib.import_module(lib.__name__ + ".artifacts._protocol")
    store = lib.artifacts.FileSystemArtifactStore(str(tmp_path))
    for method in ("open_reader", "write", "remove"):  # the contract custom stores follow
        assert callable(getattr(protocol.ArtifactStore, method))
        assert callable(getattr(store, method))
    with pytest.raises(exceptions.ArtifactNotFound):
        store.open_reader("no-such-artifact")


@pytest.mark.timeout(120)
def test_optuna_integration_modules_import_with_optuna_aliased_to_tunelab() -> None:
    pytest.importorskip("optuna_integration")
    script = textwrap.dedent(
        """
        import importlib

        from benchmarks.optuna_test_suite import alias_optuna

        alias_optuna()  # as the graders' `import tunelab as optuna` does
        modules = ("lightgbm", "xgboost", "catboost", "mlflow", "wandb", "sklearn", "comet")
        for name in modules:
            importlib.import_module("optuna_integration." + name)
        import optuna
        import optuna.trial._state
        assert optuna.__name__ == "tunelab"
        assert optuna.trial._state.TrialState is optuna.trial.TrialState
        """
    )
    source = Path(tunelab.__file__).parent.parent
    repository = Path(__file__).resolve().parents[2]  # for benchmarks/
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": f"{source}:{repository}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_named_temporary_file_pool_and_lazy_system_attrs(optuna: types.ModuleType) -> None:
    name = optuna.__name__
    pool = importlib.import_module(f"{name}.testing.tempfile_pool").NamedTemporaryFilePool
    lazy = importlib.import_module(f"{name}.trial._trial")._LazyTrialSystemAttrs
    with pool() as file:
        url = f"sqlite:///{file.name}"
        study = optuna.create_study(storage=url)
        trial = study.ask()
        study._storage.set_trial_system_attr(trial._trial_id, "k", 1)
        attrs = lazy(trial._trial_id, study._storage)
        assert attrs["k"] == 1 and dict(attrs) == {"k": 1} and len(attrs) == 1
    assert os.path.exists(file.name)
    pool.cleanup()
    assert not os.path.exists(file.name)
