"""ONNX conversion: parity with scikit-learn, refusals, quantisation, ONNX-backed loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tests.deploy.conftest import MajorityVote
from tunelab.deploy import ArtifactError, ConversionError, load_model, save_model, to_onnx

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

X, Y = make_classification(n_samples=200, n_features=6, random_state=1)
FRAME = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])


@pytest.fixture(scope="module")
def pipeline() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(FRAME, Y)


def test_pipeline_conversion_matches_sklearn(pipeline: object) -> None:
    conversion = to_onnx(pipeline, FRAME, latency_repeats=3)
    assert conversion.task == "classification"
    assert conversion.input_mode == "matrix"
    assert 0 < conversion.max_abs_diff < 1e-5
    session = ort.InferenceSession(conversion.model_bytes, providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {"X": FRAME.to_numpy(np.float32)})
    np.testing.assert_array_equal(labels, pipeline.predict(FRAME))
    np.testing.assert_allclose(proba, pipeline.predict_proba(FRAME), atol=1e-5)
    table = {(row["backend"], row["rows"]) for row in conversion.latency}
    assert table == {(b, n) for b in ("sklearn", "onnxruntime") for n in (1, 1000)}
    assert all(row["median_ms"] > 0 and row["repeats"] == 3 for row in conversion.latency)


def test_forest_and_regressor_convert() -> None:
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y)
    assert to_onnx(forest, X, latency_repeats=0).max_abs_diff < 1e-5
    Xr, yr = make_regression(n_samples=100, n_features=4, noise=1.0, random_state=0)
    ridge = Ridge().fit(Xr, yr)
    conversion = to_onnx(ridge, Xr, latency_repeats=0)
    assert conversion.task == "regression"
    assert conversion.max_abs_diff < 1e-3


def test_named_column_pipeline_uses_one_input_per_column() -> None:
    frame = FRAME.assign(plan=np.where(X[:, 0] > 0, "gold", "basic"))
    encode = make_column_transformer(
        (OneHotEncoder(), ["plan"]), (StandardScaler(), [f"f{i}" for i in range(6)])
    )
    model = make_pipeline(encode, LogisticRegression()).fit(frame, Y)
    conversion = to_onnx(model, frame, latency_repeats=0)
    assert conversion.input_mode == "columns"
    session = ort.InferenceSession(conversion.model_bytes, providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == sorted(frame.columns)


def test_tolerance_breach_is_refused_with_the_difference(pipeline: object) -> None:
    # ONNX computes in float32: a zero tolerance cannot hold, and must be refused.
    with pytest.raises(
        ConversionError, match=r"max abs difference [0-9.e-]+ \(rtol=0.0, atol=0.0\)"
    ):
        to_onnx(pipeline, FRAME, rtol=0.0, atol=0.0, latency_repeats=0)


def test_unsupported_estimator_is_refused() -> None:
    model = MajorityVote().fit(X, Y)
    with pytest.raises(ConversionError, match="skl2onnx cannot convert MajorityVote"):
        to_onnx(model, X)


def test_non_numeric_array_sample_is_refused(pipeline: object) -> None:
    with pytest.raises(ConversionError, match="numeric 2-D array"):
        to_onnx(pipeline, np.full((3, 6), "a"))


def test_save_without_onnx_when_conversion_fails(tmp_path: Path) -> None:
    model = MajorityVote().fit(X, Y)
    path = save_model(model, tmp_path / "m", data=(X, Y), onnx=True)
    assert not (path / "model.onnx").exists()
    trusted = ["tests.deploy.conftest.MajorityVote"]
    loaded = load_model(path, trusted=trusted)
    assert loaded.card.onnx["status"] == "failed"
    assert "skl2onnx cannot convert MajorityVote" in loaded.card.onnx["error"]
    assert loaded.backend == "sklearn"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ArtifactError, match="has no onnx model.*failed"):
        load_model(path, trusted=trusted, backend="onnx")


def test_loaded_artifact_predicts_through_onnx(pipeline: object, tmp_path: Path) -> None:
    path = save_model(pipeline, tmp_path / "m", data=(FRAME, Y), onnx=True)
    card_onnx = load_model(path, backend="sklearn").card.onnx
    assert card_onnx["status"] == "ok" and card_onnx["file"] == "model.onnx"
    assert len(card_onnx["latency"]) == 4 and card_onnx["parity"]["rows"] == 200
    loaded = load_model(path)
    assert loaded.backend == "onnx"
    onnx_proba = loaded.predict_proba(FRAME)
    sklearn_proba = pipeline.predict_proba(FRAME)
    # float32 arithmetic: close, but not bit-identical, proving the session ran.
    np.testing.assert_allclose(onnx_proba, sklearn_proba, atol=1e-5)
    assert not np.array_equal(onnx_proba, sklearn_proba)
    np.testing.assert_array_equal(loaded.predict(FRAME), pipeline.predict(FRAME))
    with pytest.raises(ValueError, match="missing column"):
        loaded.predict(FRAME.drop(columns=["f2"]))


def test_tampered_onnx_file_is_refused(pipeline: object, tmp_path: Path) -> None:
    path = save_model(pipeline, tmp_path / "m", sample=FRAME, onnx=True)
    onnx_file = path / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:-1])
    with pytest.raises(ArtifactError, match="model.onnx does not match its checksum"):
        load_model(path)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_quantisation_reports_accuracy_change(tmp_path: Path) -> None:
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=0).fit(X, Y)
    conversion = to_onnx(mlp, X, quantize=True, y=Y, latency_repeats=2)
    report = conversion.quantization
    assert report is not None
    assert report.quantized_nodes > 0
    assert (report.metric, report.reference) == ("accuracy", "y")
    assert report.before == pytest.approx(float(np.mean(mlp.predict(X) == Y)))
    session = ort.InferenceSession(report.model_bytes, providers=["CPUExecutionProvider"])
    int8_labels = session.run(None, {"X": X.astype(np.float32)})[0]
    assert report.after == pytest.approx(float(np.mean(int8_labels == Y)))
    assert report.delta == pytest.approx(report.after - report.before)
    assert "onnxruntime-int8" in {row["backend"] for row in conversion.latency}

    path = save_model(mlp, tmp_path / "m", sample=X, onnx=conversion)
    assert (path / "model.int8.onnx").is_file()
    loaded = load_model(path, backend="onnx-int8")
    assert loaded.card.onnx["quantization"]["quantized_nodes"] == report.quantized_nodes
    np.testing.assert_array_equal(loaded.predict(X), int8_labels)


@pytest.mark.parametrize("backend", ["onnx", "sklearn"])
def test_predict_outputs_match_the_single_calls(
    pipeline: object, tmp_path: Path, backend: str
) -> None:
    path = save_model(pipeline, tmp_path / "m", data=(FRAME, Y), onnx=True)
    loaded = load_model(path, backend=backend)
    both = loaded.predict_outputs(FRAME, ["predict", "predict_proba"])
    np.testing.assert_array_equal(both["predict"], loaded.predict(FRAME))
    np.testing.assert_array_equal(both["predict_proba"], loaded.predict_proba(FRAME))
    assert list(loaded.predict_outputs(FRAME, ["predict"])) == ["predict"]
    with pytest.raises(ValueError, match="missing column"):
        loaded.predict_outputs(FRAME.drop(columns=["f2"]), ["predict"])
    with pytest.raises(ValueError, match="unknown outputs"):
        loaded.predict_outputs(FRAME, ["transform"])


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(), RandomForestClassifier(n_estimators=5, random_state=0)],
    ids=["linear", "forest"],
)
def test_quantising_a_graph_of_ml_operators_keeps_it_float(model: object) -> None:
    # skl2onnx imports the standard domain twice in these graphs; the quantiser refused them.
    fitted = model.fit(X, Y)  # type: ignore[attr-defined]
    report = to_onnx(fitted, X, quantize=True, y=Y, latency_repeats=0).quantization
    assert report is not None
    assert (report.quantized_nodes, report.delta) == (0, 0.0)
    session = ort.InferenceSession(report.model_bytes, providers=["CPUExecutionProvider"])
    labels = session.run(None, {"X": X.astype(np.float32)})[0]
    np.testing.assert_array_equal(labels, fitted.predict(X))  # type: ignore[attr-defined]
