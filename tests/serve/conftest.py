"""Fixtures shared by the serving tests."""

from __future__ import annotations

import pytest
from sklearn.ensemble import RandomForestClassifier

from tests.serve import fit_forest


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    """The forest the serving tests save, register and serve."""
    return fit_forest()
