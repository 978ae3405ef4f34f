"""Quickstart: tune a random forest on scikit-learn's breast-cancer data with tunelab."""

from __future__ import annotations

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score

import tunelab as tl

X, y = load_breast_cancer(return_X_y=True)


def objective(trial: tl.BaseTrial) -> float:
    """Mean 5-fold F1 of a forest whose hyperparameters the trial chooses."""
    model = RandomForestClassifier(
        n_estimators=trial.suggest_int("n_estimators", 10, 300, log=True),
        max_depth=trial.suggest_int("max_depth", 2, 32),
        max_features=trial.suggest_categorical("max_features", ["sqrt", "log2", None]),
        max_samples=trial.suggest_float("max_samples", 0.3, 1.0),
        n_jobs=1,  # the study runs trials side by side instead
    )
    return float(cross_val_score(model, X, y, cv=5, scoring="f1").mean())


if __name__ == "__main__":  # workers that are spawned import this file: only the parent tunes
    study = tl.create_study(
        study_name="quickstart",
        storage="sqlite:///tunelab.db",
        direction="maximize",
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=20, n_jobs=2)
    print(f"Best F1 {study.best_value:.4f} with {study.best_params}")
