"""Model explanations: permutation importance with intervals, SHAP values, and the model card."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from typer.testing import CliRunner

from tests.report.test_report import Page
from tunelab.cli import app
from tunelab.deploy import Registry, load_model, save_model
from tunelab.deploy.serve import ServerThread, create_app
from tunelab.evaluation import Explanation, explain_model, permutation_importance
from tunelab.report import evaluation_report


def _regression(seed: int, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """``y`` depends strongly on ``signal``, weakly on ``weak``, not at all on ``noise``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["signal", "weak", "noise"])
    y = 2.0 * X["signal"].to_numpy() + 0.5 * X["weak"].to_numpy() + rng.normal(size=n)
    return X, y


def _fit_and_explain(seed: int, n_repeats: int = 30) -> Explanation:
    X, y = _regression(seed)
    model = LinearRegression().fit(X.iloc[:200], y[:200])
    return permutation_importance(model, X.iloc[200:], y[200:], seed=seed, n_repeats=n_repeats)


def test_used_features_rank_above_noise_whose_interval_covers_zero() -> None:
    covered = 0
    for seed in range(5):
        result = _fit_and_explain(seed)
        by_name = {f.feature: f for f in result.features}
        assert [f.feature for f in result.features][:2] == ["signal", "weak"]
        # Both used features are clearly above the noise feature, interval against interval.
        assert by_name["signal"].low > by_name["weak"].high
        assert by_name["weak"].low > by_name["noise"].high
        assert by_name["signal"].low > 0.5  # R² falls by far more than half when shuffled
        noise = by_name["noise"]
        assert noise.low <= noise.mean <= noise.high
        covered += noise.low <= 0.0 <= noise.high
    # A 95% interval of a feature the model barely uses covers 0 nearly every time.
    assert covered >= 4


def test_classifier_importance_uses_the_named_tunelab_metric() -> None:
    X, _ = _regression(7)
    y = (X["signal"] + 0.3 * np.random.default_rng(7).normal(size=len(X)) > 0).astype(int)
    model = LogisticRegression().fit(X.iloc[:200], y[:200])
    result = permutation_importance(model, X.iloc[200:], y[200:], metric="roc_auc", seed=1)
    assert result.metric == "roc_auc" and 0.9 < result.baseline <= 1.0
    assert result.features[0].feature == "signal" and result.features[0].low > 0.2
    assert result.n_rows == 200 and result.n_repeats == 30 and result.level == 0.95


def test_same_seed_same_explanation_and_a_dict_round_trip() -> None:
    first, second = _fit_and_explain(3, n_repeats=4), _fit_and_explain(3, n_repeats=4)
    assert first == second
    assert Explanation.from_dict(first.to_dict()) == first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_repeats": 1}, "n_repeats must be an integer >= 2"),
        ({"level": 1.0}, "level must be between 0 and 1"),
        ({"feature_names": ["a"]}, "feature_names has 1 names but X has 3 columns"),
        ({"metric": "rmse_typo"}, "Unknown metric 'rmse_typo'"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    X, y = _regression(0, n=50)
    model = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match=message):
        permutation_importance(model, X, y, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="X has 50 rows but y has 49"):
        permutation_importance(model, X, y[:-1])


def test_without_shap_the_explanation_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)
    X, y = _regression(0, n=80)
    model = LinearRegression().fit(X, y)
    result = explain_model(model, X, y, n_repeats=3)
    assert result.shap is None
    assert result.shap_note is not None and "pip install 'tunelab[explain]'" in result.shap_note
    text = evaluation_report(
        title="Explained",
        metrics=[("r2", 0.8, 0.01, None, None)],
        task="regression",
        folds=[{"y_true": y, "y_pred": model.predict(X)}],
        explanation=result.to_dict(),
    )
    assert "pip install &#x27;tunelab[explain]&#x27;" in text or "tunelab[explain]" in text
    assert "shap" not in Page(text).plot_names()


@pytest.mark.slow
def test_shap_values_rank_the_used_feature_first() -> None:
    pytest.importorskip("shap")
    X, y = _regression(2, n=300)
    model = LinearRegression().fit(X.iloc[:150], y[:150])
    result = explain_model(model, X.iloc[150:], y[150:], n_repeats=3)
    assert result.shap is not None and result.shap_note is None
    assert list(result.shap) == ["signal", "weak", "noise"]
    # For a linear model the mean |SHAP| of a feature is |coef| x mean |x - mean x|.
    assert result.shap["signal"] > 10 * result.shap["noise"]


def test_evaluation_report_draws_importance_bars_with_intervals() -> None:
    X, y = _regression(4)
    model = LinearRegression().fit(X.iloc[:200], y[:200])
    result = permutation_importance(model, X.iloc[200:], y[200:], seed=0, n_repeats=10)
    text = evaluation_report(
        title="Explained",
        metrics=[("r2", 0.8, 0.01, 0.78, 0.82)],
        task="regression",
        folds=[{"y_true": y[200:], "y_pred": model.predict(X.iloc[200:])}],
        explanation=result,
    )
    plot = Page(text).plot("permutation-importance")
    labels = [e.text for e in plot.find("text", "tick") if e.under("class", "y-axis")]
    assert labels == ["noise", "weak", "signal"]  # drawn bottom to top: most important on top
    assert len(plot.find("rect", "bar")) == 3
    intervals = plot.find("polyline", "interval")
    assert len(intervals) == 3
    zero_x = float(plot.find("polyline", "zero")[0].attrs["points"].split(",")[0])
    noise_ends = [float(p.split(",")[0]) for p in intervals[0].attrs["points"].split()]
    noise = next(f for f in result.features if f.feature == "noise")
    assert (min(noise_ends) <= zero_x <= max(noise_ends)) == (noise.low <= 0 <= noise.high)
    assert "Model explanation" in text and "10 repeats" in text


@pytest.mark.timeout(120)
def test_explanation_travels_in_the_card_to_the_registry_cli_and_server(tmp_path: Path) -> None:
    X, y = _regression(5, n=200)
    model = LinearRegression().fit(X.iloc[:100], y[:100])
    result = explain_model(model, X.iloc[100:], y[100:], n_repeats=5, shap=False)
    path = save_model(model, tmp_path / "artifact", data=(X, y), explanation=result)
    assert load_model(path).card.explanation == result.to_dict()
    registry = Registry(tmp_path / "registry")
    registry.register("linear", path)
    runner = CliRunner(env={"COLUMNS": "400", "TUNELAB_REGISTRY": None})
    shown = runner.invoke(
        app, ["models", "show", "linear:1", "--registry", str(tmp_path / "registry")]
    )
    assert shown.exit_code == 0, shown.output
    assert "drop in r2 when shuffled (95% interval, 100 held-out rows)" in shown.stdout
    assert "signal=" in shown.stdout
    csv = tmp_path / "held_out.csv"
    X.iloc[100:].assign(y=y[100:]).to_csv(csv, index=False)
    page = tmp_path / "evaluation.html"
    evaluated = runner.invoke(
        app, ["evaluate", str(path), "--data", str(csv), "--target", "y", "--report", str(page)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "permutation-importance" in Page(page.read_text(encoding="utf-8")).plot_names()
    server_app = create_app({"linear": "linear:1"}, registry=registry, backend="sklearn")
    with ServerThread(server_app) as running:
        metadata = httpx.get(f"{running.url}/v2/models/linear", timeout=10).json()
    assert metadata["parameters"]["explanation"] == result.to_dict()


def test_cards_without_an_explanation_are_unchanged(tmp_path: Path) -> None:
    X, y = _regression(6, n=60)
    path = save_model(LinearRegression().fit(X, y), tmp_path / "plain", data=(X, y))
    card = load_model(path).card
    assert card.explanation is None and "explanation" not in card.to_dict()
