"""Public behaviour that Optuna 5.1's own test suite found differing, checked beside Optuna.

Each test here failed before the matching fix (see benchmarks/optuna_test_suite.py).
"""

from __future__ import annotations

import types
from unittest import mock

import pytest

from tests.optuna_compat.libraries import LIBRARIES


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_copy_study_to_an_empty_name(optuna: types.ModuleType) -> None:
    # "" is a name: only None means "keep the source's name".
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="foo", storage=storage)
    optuna.copy_study(
        from_study_name="foo", from_storage=storage, to_storage=storage, to_study_name=""
    )
    assert sorted(optuna.get_all_study_names(storage)) == ["", "foo"]


@pytest.mark.parametrize("optuna", LIBRARIES)
def test_frozen_trial_fields_exist_on_the_class(optuna: types.ModuleType) -> None:
    frozen = optuna.trial.FrozenTrial
    for name in ("number", "params", "distributions", "user_attrs", "system_attrs"):
        assert hasattr(frozen, name)
    trial = optuna.create_trial(value=1.0)
    with mock.patch.object(frozen, "system_attrs", new_callable=mock.PropertyMock) as attrs:
        attrs.return_value = {"patched": True}
        assert trial.system_attrs == {"patched": True}
    assert trial.system_attrs == {}
