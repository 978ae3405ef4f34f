"""Shared argument checks: a bool is never a count, NumPy numbers are numbers; old calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tunelab._validation import check_int, is_int, is_real, positional_as_keywords


@pytest.mark.parametrize("value", [0, -3, 10**30, np.int64(5), np.uint8(1)])
def test_integers_are_ints(value: object) -> None:
    assert is_int(value) and is_real(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, "1", None, 1 + 0j])
def test_bools_floats_and_strings_are_not_ints(value: object) -> None:
    assert not is_int(value)


@pytest.mark.parametrize("value", [0.5, float("inf"), np.float32(2.5), 3])
def test_reals(value: object) -> None:
    assert is_real(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.5", 1j, None])
def test_not_reals(value: object) -> None:
    assert not is_real(value)


def test_check_int_names_the_argument() -> None:
    check_int("n", 3, 1)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got True"):
        check_int("n", True, 1)


class _Deprecating:
    @positional_as_keywords(["a", "b"], since="9.0.0")
    def __init__(self, *, a: int, b: int = 0, c: int = 0) -> None:
        self.total = a + 10 * b + 100 * c


def test_old_positional_arguments_are_taken_by_name_with_a_warning() -> None:
    with pytest.warns(FutureWarning, match=r"passing a, b by position .*9\.0\.0"):
        assert _Deprecating(1, 2, c=3).total == 321
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _Deprecating(a=1, b=2).total == 21
    with pytest.raises(TypeError, match="at most 2 arguments by position"):
        _Deprecating(1, 2, 3)  # type: ignore[misc]
    with pytest.raises(TypeError, match="b both by position and by name"):
        _Deprecating(1, 2, b=3)  # type: ignore[misc]
