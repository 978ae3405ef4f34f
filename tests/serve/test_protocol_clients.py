"""Independent clients against the live server: Triton's HTTP client and schemathesis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.ensemble import RandomForestClassifier

from tests.serve import cancer_data, save_forest
from tunelab.deploy import load_model
from tunelab.deploy.serve import ServerThread, create_app

tritonhttp = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

API_KEY = "tr1ton"
PATH_VALUES = {"name": "cancer", "version": "1"}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, forest: RandomForestClassifier
) -> Iterator[ServerThread]:
    model = load_model(save_forest(tmp_path_factory.mktemp("oip") / "model", forest))
    with ServerThread(create_app({"cancer": model}, max_batch_rows=500)) as running:
        yield running


@pytest.fixture
def triton(server: ServerThread) -> Iterator[Any]:
    client = tritonhttp.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


def _column_inputs(metadata: dict[str, Any], rows: np.ndarray, *, binary: bool) -> list[Any]:
    """One InferInput per input the server's metadata lists, filled from matching columns."""
    X = cancer_data()[0]
    inputs = []
    for tensor in metadata["inputs"]:
        column = X[tensor["name"]].to_numpy()[rows]
        item = tritonhttp.InferInput(tensor["name"], list(column.shape), tensor["datatype"])
        item.set_data_from_numpy(column, binary_data=binary)
        inputs.append(item)
    return inputs


def test_triton_client_sees_a_live_ready_server_and_model(triton: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("cancer")
    assert triton.is_model_ready("cancer", "1")
    assert not triton.is_model_ready("other")
    assert triton.get_server_metadata()["name"] == "tunelab"
    metadata = triton.get_model_metadata("cancer")
    assert [t["name"] for t in metadata["inputs"]] == list(cancer_data()[0].columns)
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_client_infers_per_column_tensors(
    triton: Any, forest: RandomForestClassifier, binary: bool
) -> None:
    rows = np.arange(0, 400, 7)
    X = cancer_data()[0].iloc[rows]
    inputs = _column_inputs(triton.get_model_metadata("cancer"), rows, binary=binary)
    outputs = [
        tritonhttp.InferRequestedOutput("predict_proba", binary_data=binary),
        tritonhttp.InferRequestedOutput("predict", binary_data=not binary),
    ]
    result = triton.infer("cancer", inputs, outputs=outputs, request_id="abc", model_version="1")
    assert result.get_response()["id"] == "abc"
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_array_equal(result.as_numpy("predict"), forest.predict(X))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), forest.predict_proba(X))
    assert result.as_numpy("predict_proba").dtype == np.float64


def test_triton_client_sends_one_matrix_and_gets_every_output(
    triton: Any, forest: RandomForestClassifier
) -> None:
    X = cancer_data()[0].iloc[:25]
    assert triton.get_model_metadata("cancer")["parameters"]["matrix_input"] == {
        "datatype": "FP64",
        "shape": [-1, 30],
    }
    matrix = X.to_numpy()
    item = tritonhttp.InferInput("features", list(matrix.shape), "FP64")
    item.set_data_from_numpy(matrix)
    result = triton.infer("cancer", [item])
    names = [output["name"] for output in result.get_response()["outputs"]]
    assert names == ["predict", "predict_proba"]
    np.testing.assert_array_equal(result.as_numpy("predict"), forest.predict(X))
    narrow = tritonhttp.InferInput("features", list(matrix.shape), "FP32")
    narrow.set_data_from_numpy(matrix.astype(np.float32))
    with pytest.raises(InferenceServerException, match="is FP64, got FP32"):
        triton.infer("cancer", [narrow])


def test_triton_client_gets_the_field_named_in_errors(triton: Any) -> None:
    item = tritonhttp.InferInput("mean radius", [2], "FP64")
    item.set_data_from_numpy(np.ones(2))
    with pytest.raises(InferenceServerException, match=r"missing input\(s\) \['mean texture'"):
        triton.infer("cancer", [item])
    with pytest.raises(InferenceServerException, match="not served"):
        triton.get_model_metadata("other")


def test_triton_client_with_an_api_key(forest: RandomForestClassifier, tmp_path: Path) -> None:
    model = load_model(save_forest(tmp_path / "model", forest))
    app = create_app({"cancer": model}, api_key=API_KEY)
    with ServerThread(app) as server:
        client = tritonhttp.InferenceServerClient(server.url.removeprefix("http://"))
        try:
            assert client.is_server_live()  # health stays open
            with pytest.raises(InferenceServerException, match="API key"):
                client.get_model_metadata("cancer")
            metadata = client.get_model_metadata("cancer", headers={"X-API-Key": API_KEY})
            inputs = _column_inputs(metadata, np.arange(3), binary=True)
            headers = {"Authorization": f"Bearer {API_KEY}"}
            result = client.infer("cancer", inputs, headers=headers)
            assert result.as_numpy("predict").shape == (3,)
        finally:
            client.close()


# -- schemathesis: generated requests from the OpenAPI schema never get a 5xx -----------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_generated_requests_never_get_a_server_error(server: ServerThread, mode: str) -> None:
    """Up to 30 generated requests per operation and mode, the model name fixed to a served
    one so that requests get past the lookup and into decoding and validation.

    Negative mode sends bodies that break the schema; they must get 4xx, never 5xx.
    """
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=10)
    checks = [not_a_server_error] + ([response_schema_conformance] if mode == "positive" else [])
    tested = []
    for result in api.get_all_operations():
        operation = result.ok()
        if mode == "negative" and operation.method.upper() != "POST":
            continue  # with the path fixed, a GET has nothing left to make invalid
        fixed = {k: v for k, v in PATH_VALUES.items() if f"{{{k}}}" in operation.path}
        strategy = operation.as_strategy(
            generation_mode=schemathesis.GenerationMode(mode), path_parameters=fixed or None
        )

        @given(case=strategy)
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=checks, timeout=10)

        check()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /v2/models/{name}/infer" in tested
    assert "POST /predict" in tested
