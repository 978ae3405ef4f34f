"""Study names are printable text of at most 512 characters, in every storage."""

from __future__ import annotations

import pytest

import tunelab as tl
from tunelab.storage import BaseStorage

BAD_NAMES = [
    ("two\nlines", "'\\n' at position 3"),
    ("nul\x00", "'\\x00' at position 3"),
    ("tab\there", "'\\t'"),
    ("abc\u202edcba", "'\\u202e'"),  # right-to-left override: displays as another name
    ("zero\u200bwidth", "'\\u200b'"),
    ("x" * 513, "513 characters long; at most 512"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD_NAMES)
def test_create_study_refuses_unprintable_or_overlong_names(
    storage: BaseStorage, name: str, fragment: str
) -> None:
    kept = tl.create_study(study_name="kept", storage=storage)
    kept.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError, match="study_name") as info:
        tl.create_study(study_name=name, storage=storage, load_if_exists=True)
    assert fragment in str(info.value)
    # Nothing was created, and what was stored is still there.
    assert [s.study_name for s in storage.get_all_studies()] == ["kept"]
    assert len(tl.load_study(study_name="kept", storage=storage).trials) == 1


def test_printable_unicode_names_of_up_to_512_characters_are_kept(storage: BaseStorage) -> None:
    for name in ("café-ß 研究 (v2): run #1", "y" * 512):
        tl.create_study(study_name=name, storage=storage)
        assert tl.load_study(study_name=name, storage=storage).study_name == name
