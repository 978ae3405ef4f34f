"""The generated compatibility table covers Optuna's public names and tells the truth."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("optuna")

from benchmarks import optuna_compat_table as table


def test_every_public_optuna_name_has_a_row() -> None:
    rows = table.rows()
    listed = {(r.section, r.name) for r in rows}
    for module_name in ("optuna", "optuna.study", "optuna.trial", "optuna.samplers"):
        for name in importlib.import_module(module_name).__all__:
            if not name.startswith("_"):
                assert (module_name, name) in listed, (module_name, name)
    study_members = {r.name for r in rows if r.section == "optuna.study.Study"}
    assert {"add_trial", "tell", "trials_dataframe", "get_trials"} <= study_members


def test_supported_rows_name_something_tunelab_has() -> None:
    for row in table.rows():
        if row.status != "supported" or row.section.count(".") > 1:
            continue
        module = importlib.import_module("tunelab" + row.section[len("optuna") :])
        assert hasattr(module, row.name), f"{row.section}.{row.name} is marked supported"


def test_missing_rows_say_why() -> None:
    assert all(r.note for r in table.rows() if r.status in ("missing", "differs"))


def test_committed_table_is_current() -> None:
    # After changing tunelab's API: PYTHONPATH=src python -m benchmarks.optuna_compat_table
    assert table.main(["--check"]) == 0
