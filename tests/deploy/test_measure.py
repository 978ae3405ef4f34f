"""tunelab.deploy.measure: what serving a model costs, measured on ONNX Runtime."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import tunelab as tl
from tunelab.deploy import DeploymentMeasurement, measure, to_onnx

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

X, Y = load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def mlp() -> MLPClassifier:
    with np.errstate(all="ignore"):
        return MLPClassifier((64,), max_iter=80, random_state=0).fit(X, Y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_latency_size_and_int8_change_are_measured(mlp: MLPClassifier) -> None:
    result = measure(mlp, X[:200], y=Y[:200], calls=60, batch_rows=64)
    assert isinstance(result, DeploymentMeasurement)
    values = [result.latency_p50_ms, result.latency_p95_ms, result.batch_p50_ms]
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert result.latency_p50_ms <= result.latency_p95_ms
    assert result.batch_p50_ms <= result.batch_p95_ms
    float_bytes = len(to_onnx(mlp, X[:200], latency_repeats=0).model_bytes)
    assert result.size_mb == pytest.approx(float_bytes / 1e6)
    assert result.size_int8_mb is not None and result.size_int8_mb < result.size_mb
    assert result.int8_metric == "accuracy"
    assert result.int8_delta is not None and -1.0 <= result.int8_delta <= 1.0
    assert set(result.to_dict()) >= {"latency_p95_ms", "size_mb", "size_int8_mb"}


def test_a_bigger_network_is_measured_bigger_and_float_only_on_request() -> None:
    small = LogisticRegression(max_iter=50).fit(X[:300], Y[:300])
    with np.errstate(all="ignore"):
        big = MLPClassifier((256, 256), max_iter=5, random_state=0).fit(X[:300], Y[:300])
    frame = pd.DataFrame(X[:100], columns=[f"p{i}" for i in range(64)])
    sizes = [measure(m, frame, quantize=False, calls=5).size_mb for m in (small, big)]
    assert sizes[0] * 10 < sizes[1]
    only_float = measure(small, frame, quantize=False, calls=5)
    assert (only_float.size_int8_mb, only_float.int8_delta) == (None, None)


@pytest.mark.parametrize("name,value", [("calls", 0), ("batch_rows", 0), ("warmup", -1)])
def test_bad_arguments_are_named(name: str, value: int) -> None:
    model = LogisticRegression(max_iter=50).fit(X[:100], Y[:100])
    with pytest.raises(ValueError, match=f"{name} must be an integer"):
        measure(model, X[:20], **{name: value})


def test_measure_is_reachable_from_the_package() -> None:
    assert tl.deploy.measure is measure


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_int8_precision_times_and_sizes_the_quantised_model_that_is_served(
    mlp: MLPClassifier,
) -> None:
    served = to_onnx(mlp, X[:100], quantize=True, latency_repeats=0).quantization
    assert served is not None
    int8 = measure(mlp, X[:100], y=Y[:100], calls=10, precision="int8", quantize=False)
    full = measure(mlp, X[:100], calls=10, quantize=False)
    assert (int8.precision, full.precision) == ("int8", "float32")
    # The bytes of model.int8.onnx, which `tunelab serve --backend onnx-int8` loads.
    assert int8.size_mb == pytest.approx(len(served.model_bytes) / 1e6)
    assert int8.size_mb == int8.size_int8_mb
    assert int8.size_mb < full.size_mb == full.size_float32_mb == int8.size_float32_mb
    assert int8.int8_metric == "accuracy" and int8.int8_delta is not None
    assert int8.to_dict()["precision"] == "int8"


def test_an_unknown_precision_is_named() -> None:
    model = LogisticRegression(max_iter=50).fit(X[:100], Y[:100])
    with pytest.raises(ValueError, match="precision must be one of float32, int8, got 'fp16'"):
        measure(model, X[:20], precision="fp16")


def test_a_conversion_is_measured_as_it_is_without_converting_again() -> None:
    model = LogisticRegression(max_iter=50).fit(X[:300], Y[:300])
    conversion = to_onnx(model, X[:50], quantize=True, y=Y[:50], latency_repeats=0)
    for precision, served in [
        ("float32", conversion.model_bytes),
        ("int8", conversion.quantization.model_bytes),
    ]:
        result = measure(conversion, X[:50], calls=5, precision=precision)
        assert result.size_mb == pytest.approx(len(served) / 1e6)
        assert result.size_int8_mb == pytest.approx(conversion.quantization.size_after / 1e6)
    float_only = to_onnx(model, X[:50], latency_repeats=0)
    assert measure(float_only, X[:50], calls=5).size_int8_mb is None
    with pytest.raises(ValueError, match="quantize=True"):
        measure(float_only, X[:50], calls=5, precision="int8")
