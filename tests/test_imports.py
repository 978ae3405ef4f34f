"""The optional-import helper names the missing package and the extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tunelab._imports import optional_import


def test_an_installed_module_is_returned() -> None:
    assert optional_import("json", extra="x", purpose="reading JSON") is sys.modules["json"]


def test_a_missing_module_names_itself_and_the_extra() -> None:
    with pytest.raises(
        ImportError,
        match=r"^plotting: no_such_pkg_zz is not installed; "
        r"pip install 'tunelab\[report\]'$",
    ) as info:
        optional_import("no_such_pkg_zz.sub", extra="report", purpose="plotting")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_missing_dependency_of_the_module_is_the_one_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wrapper_zz.py").write_text("import inner_missing_zz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="serving: inner_missing_zz is not installed"):
        optional_import("wrapper_zz", extra="serve", purpose="serving")
