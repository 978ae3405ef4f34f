"""Helpers shared by the serving and batch-scoring tests: a small forest on real data."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from tunelab.deploy import save_model


@cache
def cancer_data() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's breast-cancer data as a DataFrame (30 float columns) and labels."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def fit_forest(*, flip: bool = False, n_estimators: int = 10) -> RandomForestClassifier:
    """A small seeded forest; ``flip=True`` learns the opposite labels (predicts differently)."""
    X, y = cancer_data()
    target = 1 - y if flip else y
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(X, target)


def save_forest(path: Path, model: Any, *, onnx: bool = False) -> Path:
    """Save ``model`` as an artifact with a columnar signature inferred from the data."""
    X, y = cancer_data()
    return save_model(model, path, data=(X, y), onnx=onnx)
