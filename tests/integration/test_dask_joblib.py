"""TuneSearchCV under ``joblib.parallel_backend("dask")``: its fits run on the Dask cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tunelab.sklearn import TuneSearchCV

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


class WhereFitted(ClassifierMixin, BaseEstimator):
    """Logistic regression that appends where each fit ran ("dask" or "local") to a file."""

    def __init__(self, C: float = 1.0, log: str = "") -> None:
        self.C = C
        self.log = log

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> WhereFitted:
        try:
            where = f"dask {distributed.get_worker().address}"
        except ValueError:
            where = "local"
        with Path(self.log).open("a") as file:
            file.write(f"{where} {os.getpid()}\n")
        self.model_ = LogisticRegression(C=self.C).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.model_.predict(X)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_tunesearchcv_fits_run_on_the_dask_cluster(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    log = tmp_path / "fits.log"
    search = TuneSearchCV(
        WhereFitted(log=str(log)),
        {"C": [0.01, 0.1, 1.0, 10.0]},
        n_trials=6,
        cv=3,
        random_state=0,
        error_score="raise",
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        workers = set(client.scheduler_info()["workers"])
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    lines = log.read_text().splitlines()
    cv_fits, refit = lines[:-1], lines[-1]
    assert len(cv_fits) == 6 * 3
    assert all(line.split()[0] == "dask" and line.split()[1] in workers for line in cv_fits)
    assert all(int(line.split()[2]) != os.getpid() for line in cv_fits)
    assert refit.startswith("local")  # best_estimator_ is refit here, as scikit-learn does
    # The results are those of an ordinary search: every trial scored, the best one refit.
    assert len(search.cv_results_["params"]) == 6
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["C"] == search.best_estimator_.C
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])
