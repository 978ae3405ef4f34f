"""ONNX export of tunelab.torch models: parity, refusals, quantisation, serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import tunelab.torch._export as export_module  # noqa: E402
from tunelab.deploy import (  # noqa: E402
    ConversionError,
    SignatureError,
    load_model,
    save_model,
    to_onnx,
)
from tunelab.torch import MLP, MLPSpec, TorchClassifier, TorchRegressor, build_mlp  # noqa: E402

RNG = np.random.default_rng(3)
X = np.concatenate([RNG.normal(-1, 1, (100, 4)), RNG.normal(1, 1, (100, 4))]).astype(np.float32)
Y = np.repeat([0, 5], 100)
Y_REG = X @ np.array([1.0, -1.0, 0.5, 2.0])


@pytest.fixture(scope="module")
def classifier() -> TorchClassifier:
    # Trained to a clear margin: an undertrained net puts many rows near 0.5, where int8
    # rounding flips them, and the quantisation check would measure that instead.
    model = TorchClassifier(hidden=(32, 16), batch_norm=True, epochs=30, seed=0)
    return model.fit(X, Y)


@pytest.fixture(scope="module")
def regressor() -> TorchRegressor:
    return TorchRegressor(hidden=(16,), activation="gelu", epochs=6, seed=0).fit(X, Y_REG)


def test_classifier_conversion_matches_pytorch(classifier: TorchClassifier) -> None:
    conversion = to_onnx(classifier, X, latency_repeats=2)
    assert conversion.task == "classification" and conversion.input_mode == "matrix"
    assert conversion.max_abs_diff < 1e-5 and conversion.n_rows == 200
    session = ort.InferenceSession(conversion.model_bytes, providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_outputs()] == ["label", "probabilities"]
    labels, proba = session.run(None, {"X": X})
    np.testing.assert_array_equal(labels, classifier.predict(X))  # labels 0/5, not indices
    np.testing.assert_allclose(proba, classifier.predict_proba(X), atol=1e-5)
    backends = {(row["backend"], row["rows"]) for row in conversion.latency}
    assert backends == {(b, n) for b in ("torch", "onnxruntime") for n in (1, 1000)}
    assert "torch" in conversion.libraries


def test_regressor_and_bare_module_convert(regressor: TorchRegressor) -> None:
    conversion = to_onnx(regressor, X, latency_repeats=0)
    assert conversion.task == "regression" and conversion.max_abs_diff < 1e-4
    module = build_mlp(MLPSpec(n_inputs=4, n_outputs=3, hidden=(5,)), seed=1)
    session_bytes = to_onnx(module, X[:20], latency_repeats=0).model_bytes
    labels, _ = ort.InferenceSession(session_bytes).run(None, {"X": X[:20]})
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(X[:20])).argmax(1).numpy()
    np.testing.assert_array_equal(labels, expected)  # a bare module's labels are indices


def test_outputs_beyond_tolerance_are_refused_with_the_difference(
    regressor: TorchRegressor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_export = export_module.export_onnx

    def export_with_shifted_bias(module: MLP, classes: Any = None) -> bytes:
        shifted = build_mlp(module.spec)
        shifted.load_state_dict(module.state_dict())
        with torch.no_grad():
            shifted.output.bias += 0.01
        return real_export(shifted, classes)

    monkeypatch.setattr(export_module, "export_onnx", export_with_shifted_bias)
    with pytest.raises(
        ConversionError,
        match=r"ONNX predictions differ from PyTorch beyond tolerance: max abs difference 0.01",
    ):
        to_onnx(regressor, X, latency_repeats=0)
    assert to_onnx(regressor, X, atol=0.02, latency_repeats=0).max_abs_diff == pytest.approx(
        0.01, rel=1e-3
    )


def test_text_labels_and_bad_samples_are_refused(tmp_path: Path) -> None:
    model = TorchClassifier(hidden=(4,), epochs=1, seed=0).fit(X, np.where(Y, "yes", "no"))
    with pytest.raises(ConversionError, match="fit on integer labels"):
        to_onnx(model, X)
    with pytest.raises(ConversionError, match=r"non-empty \(rows, 4\) matrix"):
        to_onnx(model, X[:, :3])
    with pytest.raises(ConversionError, match="was not built by tunelab.torch"):
        to_onnx(torch.nn.Linear(4, 2), X)
    # The artifact is still written, without ONNX, and still predicts.
    path = save_model(model, tmp_path / "text", sample=X, onnx=True)
    loaded = load_model(path)
    assert loaded.card.onnx["status"] == "failed" and loaded.backend == "sklearn"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_int8_quantisation_reports_its_effect(classifier: TorchClassifier) -> None:
    conversion = to_onnx(classifier, X, quantize=True, y=Y, latency_repeats=0)
    report = conversion.quantization
    assert report is not None
    assert report.quantized_nodes >= 1 and report.reference == "y"
    assert report.metric == "accuracy" and report.after >= report.before - 0.05
    assert report.max_abs_diff > 0  # int8 weights do change the probabilities
    own = to_onnx(classifier, X, quantize=True, latency_repeats=0).quantization
    assert own is not None and own.reference == "torch"


def test_saved_onnx_is_what_load_model_serves(classifier: TorchClassifier, tmp_path: Path) -> None:
    conversion = to_onnx(classifier, X, quantize=True, latency_repeats=0)
    path = save_model(classifier, tmp_path / "clf", data=(X, Y), onnx=conversion)
    assert {p.name for p in path.iterdir()} >= {"model.onnx", "model.int8.onnx"}
    loaded = load_model(path)
    assert loaded.backend == "onnx"
    np.testing.assert_array_equal(loaded.predict(X), classifier.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), classifier.predict_proba(X), atol=1e-5)
    both = loaded.predict_outputs(X[:3], ["predict", "predict_proba"])
    assert both["predict_proba"].shape == (3, 2)
    with pytest.raises(SignatureError, match="axis 1 must have length 4"):
        loaded.predict(X[:, :2])
    int8 = load_model(path, backend="onnx-int8")
    assert (int8.predict(X) == classifier.predict(X)).mean() > 0.95


def test_a_served_torch_artifact_answers_over_http(
    regressor: TorchRegressor, tmp_path: Path
) -> None:
    pytest.importorskip("uvicorn")
    httpx = pytest.importorskip("httpx")
    from tunelab.deploy.serve import ServerThread, create_app

    path = save_model(regressor, tmp_path / "reg", data=(X, Y_REG), onnx=True)
    model = load_model(path)
    assert model.backend == "onnx"
    rows = X[:6]
    tensor = {"name": "input", "shape": [6, 4], "datatype": "FP32", "data": rows.ravel().tolist()}
    with (
        ServerThread(create_app({"reg": model})) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        assert http.get("/v2/models/reg").json()["platform"] == "tunelab_onnx"
        answer = http.post("/v2/models/reg/infer", json={"inputs": [tensor]})
        plain = http.post("/predict", json={"data": rows.tolist()})
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    np.testing.assert_allclose(output["data"], regressor.predict(rows), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(plain.json()["predictions"], regressor.predict(rows), rtol=1e-4)
