"""The HTTP server, run for real by uvicorn on loopback and queried with httpx."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from tests.serve import cancer_data, fit_forest, save_forest
from tunelab.deploy import Registry, RegistryError, Signature, load_model, save_model
from tunelab.deploy.serve import ServerThread, create_app
from tunelab.deploy.serve._protocol import json_values, to_binary

ROWS = 6
MAX_BODY = 64_000
MAX_ROWS = 100


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, forest: RandomForestClassifier) -> Registry:
    root = tmp_path_factory.mktemp("served")
    registry = Registry(root / "registry")
    version = registry.register("cancer", save_forest(root / "v1", forest))
    registry.set_alias("cancer", "production", version)
    return registry


@pytest.fixture(scope="module")
def server(registry: Registry) -> Iterator[ServerThread]:
    app = create_app(
        {"cancer": "cancer@production"},
        registry=registry,
        max_body_bytes=MAX_BODY,
        max_batch_rows=MAX_ROWS,
        backend="sklearn",
    )
    with ServerThread(app) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def _rows(n: int = ROWS, start: int = 0) -> pd.DataFrame:
    return cancer_data()[0].iloc[start : start + n]


def column_request(X: pd.DataFrame, columns: list[str] | None = None) -> dict[str, Any]:
    """One FP64 tensor per column, in the given order."""
    names = list(X.columns) if columns is None else columns
    inputs = [
        {"name": name, "shape": [len(X)], "datatype": "FP64", "data": X[name].tolist()}
        for name in names
    ]
    return {"inputs": inputs}


def matrix_request(X: pd.DataFrame) -> dict[str, Any]:
    """A single 2-D FP64 tensor, row-major."""
    data = X.to_numpy().ravel().tolist()
    return {"inputs": [{"name": "rows", "shape": list(X.shape), "datatype": "FP64", "data": data}]}


def outputs_of(answer: httpx.Response) -> dict[str, np.ndarray]:
    assert answer.status_code == 200, answer.text
    return {
        item["name"]: np.reshape(item["data"], item["shape"]) for item in answer.json()["outputs"]
    }


def _error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    return str(body["error"])


# -- inference ---------------------------------------------------------------------------------


def test_infer_with_one_tensor_per_column_in_any_order_matches_the_model(
    client: httpx.Client, forest: RandomForestClassifier
) -> None:
    X = _rows(start=40)
    shuffled = list(np.random.default_rng(0).permutation(X.columns))
    request = {**column_request(X, shuffled), "id": "req-7"}
    answer = client.post("/v2/models/cancer/infer", json=request)
    outputs = outputs_of(answer)
    body = answer.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("cancer", "1", "req-7")
    assert outputs["predict"].tolist() == forest.predict(X).tolist()
    np.testing.assert_allclose(outputs["predict_proba"], forest.predict_proba(X))
    datatypes = {item["name"]: item["datatype"] for item in body["outputs"]}
    assert datatypes == {"predict": "INT64", "predict_proba": "FP64"}


def test_infer_with_a_single_matrix_and_selected_outputs(
    client: httpx.Client, forest: RandomForestClassifier
) -> None:
    X = _rows(start=100)
    request = {**matrix_request(X), "outputs": [{"name": "predict_proba"}]}
    outputs = outputs_of(client.post("/v2/models/cancer/infer", json=request))
    assert list(outputs) == ["predict_proba"]
    assert outputs["predict_proba"].shape == (ROWS, 2)
    np.testing.assert_allclose(outputs["predict_proba"], forest.predict_proba(X))


def test_infer_on_the_served_version_and_404_for_others(client: httpx.Client) -> None:
    request = matrix_request(_rows(2))
    assert client.post("/v2/models/cancer/versions/1/infer", json=request).status_code == 200
    other_version = client.post("/v2/models/cancer/versions/2/infer", json=request)
    assert "not loaded" in _error(other_version, 404)
    assert "'nope' is not served" in _error(client.post("/v2/models/nope/infer", json=request), 404)
    assert client.get("/v2/models/cancer/versions/1/ready").status_code == 200
    assert client.get("/v2/models/cancer/versions/9/ready").status_code == 404


def test_metadata_describes_the_signature_in_protocol_terms(client: httpx.Client) -> None:
    X = _rows()
    body = client.get("/v2/models/cancer").json()
    assert body["name"] == "cancer"
    assert body["versions"] == ["1"]
    assert body["platform"] == "tunelab_sklearn"
    assert [item["name"] for item in body["inputs"]] == list(X.columns)
    assert {(item["datatype"], tuple(item["shape"])) for item in body["inputs"]} == {
        ("FP64", (-1,))
    }
    assert body["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert client.get("/v2/models/cancer/versions/1").json() == body
    server = client.get("/v2").json()
    assert server["name"] == "tunelab"
    assert "binary_tensor_data" in server["extensions"]


def _drop_column(request: dict[str, Any]) -> None:
    del request["inputs"][3]


def _text_column(request: dict[str, Any]) -> None:
    column = request["inputs"][2]
    column.update(datatype="BYTES", data=["big"] * len(column["data"]))


def _short_data(request: dict[str, Any]) -> None:
    request["inputs"][0]["data"] = request["inputs"][0]["data"][:-1]


def _bad_datatype(request: dict[str, Any]) -> None:
    request["inputs"][0]["datatype"] = "FLOAT"


def _strings_in_numbers(request: dict[str, Any]) -> None:
    request["inputs"][1]["data"][0] = "oops"


def _unknown_output(request: dict[str, Any]) -> None:
    request["outputs"] = [{"name": "predict"}, {"name": "explain"}]


def _unknown_input(request: dict[str, Any]) -> None:
    request["inputs"][0]["name"] = "mean radiu"


def _uneven_rows(request: dict[str, Any]) -> None:
    request["inputs"][5].update(shape=[1], data=request["inputs"][5]["data"][:1])


def _ragged(request: dict[str, Any]) -> None:
    request["inputs"][4]["data"] = [[1.0, 2.0], [3.0], [4.0, 5.0]]


def _two_dimensional_column(request: dict[str, Any]) -> None:
    column = request["inputs"][7]
    column["shape"] = [len(column["data"]), 1]


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (_ragged, ["inputs[4].data", "rectangular"]),
        (_drop_column, ["missing input(s) ['mean area']"]),
        (_text_column, ["inputs[2].datatype", "'mean perimeter' is FP64, got BYTES"]),
        (_two_dimensional_column, ["inputs[7].shape", "has shape [-1]", "got [6, 1]"]),
        (_short_data, ["inputs[0].shape", "holds 6 values but data has 5"]),
        (_bad_datatype, ["inputs[0].datatype", "'FP64'"]),
        (_strings_in_numbers, ["inputs[1].data", "FP64 needs numeric"]),
        (_unknown_output, ["outputs[1].name", "'explain'"]),
        (_unknown_input, ["inputs[0].name", "unknown input 'mean radiu'"]),
        (_uneven_rows, ["inputs[5].shape", "1 rows, but inputs[0] has 6"]),
    ],
)
def test_bad_inference_requests_get_400_naming_the_field(
    client: httpx.Client, mutate: Callable[[dict[str, Any]], None], fragments: list[str]
) -> None:
    request = column_request(_rows())
    mutate(request)
    message = _error(client.post("/v2/models/cancer/infer", json=request), 400)
    for fragment in fragments:
        assert fragment in message


def test_malformed_json_and_wrong_matrix_width_are_400(client: httpx.Client) -> None:
    answer = client.post("/v2/models/cancer/infer", content=b'{"inputs": [', headers={})
    assert "JSON" in _error(answer, 400) or "EOF" in _error(answer, 400)
    for path in ("/v2/models/cancer/infer", "/predict"):
        assert _error(client.post(path, content=b""), 400).startswith("body: Invalid JSON")
        assert _error(client.post(path, content=b"[1, 2]"), 400).startswith("body: Input should")
    unknown_field = {"records": [], "rows": [[1.0]]}
    assert "rows: Extra inputs" in _error(client.post("/predict", json=unknown_field), 400)
    narrow = matrix_request(_rows().iloc[:, :29])
    message = _error(client.post("/v2/models/cancer/infer", json=narrow), 400)
    assert "input 'rows' has shape [-1, 30]" in message and "got [6, 29]" in message


def test_bodies_and_batches_over_the_limits_get_413(client: httpx.Client) -> None:
    too_many = column_request(pd.DataFrame(0.0, index=range(MAX_ROWS + 1), columns=_rows().columns))
    message = _error(client.post("/v2/models/cancer/infer", json=too_many), 413)
    assert f"{MAX_ROWS + 1} rows exceed" in message
    records = {"records": [{"a": 0}] * (MAX_ROWS + 1)}
    assert "rows exceed" in _error(client.post("/predict", json=records), 413)
    huge = b'{"inputs": [' + b" " * MAX_BODY + b"]}"
    assert "exceed the server's limit" in _error(
        client.post("/v2/models/cancer/infer", content=huge), 413
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count as it reads
        yield b'{"records": ['
        for _ in range(MAX_BODY // 1000 + 1):
            yield b" " * 1000
        yield b"]}"

    streamed = client.post("/predict", content=chunks())
    assert "limit" in _error(streamed, 413)


def test_inference_paths_refuse_other_methods_with_405(client: httpx.Client) -> None:
    for path in ("/predict", "/v2/models/cancer/infer", "/v2/models/cancer/versions/1/infer"):
        for method in ("GET", "PUT"):
            answer = client.request(method, path)
            assert _error(answer, 405) == "Method Not Allowed"
            assert answer.headers["allow"] == "POST"
    assert client.post("/v2/models/cancer/infer/extra", json={}).status_code == 404


# -- /predict ----------------------------------------------------------------------------------


def test_predict_takes_records_or_columns_and_data(
    client: httpx.Client, forest: RandomForestClassifier
) -> None:
    X = _rows(start=200)
    by_records = client.post("/predict", json={"records": X.to_dict("records")})
    assert by_records.status_code == 200, by_records.text
    body = by_records.json()
    assert body["model_name"] == "cancer"
    assert body["predictions"] == forest.predict(X).tolist()
    assert body["classes"] == [0, 1]
    np.testing.assert_allclose(body["probabilities"], forest.predict_proba(X))
    reversed_columns = list(X.columns)[::-1]
    by_rows = client.post(
        "/predict",
        json={"columns": reversed_columns, "data": X[reversed_columns].to_numpy().tolist()},
    )
    assert by_rows.json()["predictions"] == body["predictions"]
    assert client.post("/predict?model=cancer", json={"records": X.to_dict("records")}).json() == (
        body
    )


def test_predict_errors_name_the_record_and_column(client: httpx.Client) -> None:
    records = _rows(3).to_dict("records")
    del records[1]["worst area"]
    assert "records[1]: missing column(s) ['worst area']" in _error(
        client.post("/predict", json={"records": records}), 400
    )
    records = _rows(2).to_dict("records")
    records[0]["mean texture"] = "soft"
    message = _error(client.post("/predict", json={"records": records}), 400)
    assert "'mean texture'" in message
    both = {"records": records, "data": [[1.0]]}
    assert "either 'records' or 'data'" in _error(client.post("/predict", json=both), 400)
    short = {"columns": list(_rows().columns), "data": [[1.0, 2.0]]}
    assert "data[0]: 2 values for 30 columns" in _error(client.post("/predict", json=short), 400)
    nested = {"records": [{"mean radius": [1, 2]}]}
    assert "records[0].mean radius" in _error(client.post("/predict", json=nested), 400)
    assert "'other' is not served" in _error(
        client.post("/predict?model=other", json={"records": []}), 404
    )


# -- auth, metrics, OpenAPI --------------------------------------------------------------------


def test_api_key_is_required_except_for_health_and_docs(registry: Registry) -> None:
    app = create_app({"cancer": "cancer:1"}, registry=registry, api_key="s3cret")
    request = matrix_request(_rows(1))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").status_code == 200
        assert http.get("/openapi.json").status_code == 200
        for path in ("/v2", "/v2/models/cancer", "/metrics"):
            answer = http.get(path)
            assert "API key" in _error(answer, 401)
            assert answer.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer s3cre7"}
        assert http.post("/v2/models/cancer/infer", json=request, headers=wrong).status_code == 401
        assert http.post("/v2/models/cancer/infer", json=request).status_code == 401
        records = {"records": _rows(1).to_dict("records")}
        for path in ("/predict", "/v2/models/cancer/versions/1/infer"):
            answer = http.post(path, json=records if path == "/predict" else request)
            assert "API key" in _error(answer, 401)
            assert answer.headers["www-authenticate"] == "Bearer"
        assert (
            http.post(
                "/predict", json=records, headers={"Authorization": "Basic s3cret"}
            ).status_code
            == 401
        )
        for headers in ({"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}):
            answer = http.post("/v2/models/cancer/infer", json=request, headers=headers)
            assert answer.status_code == 200, answer.text
            assert http.post("/predict", json=records, headers=headers).status_code == 200
        schemes = http.get("/openapi.json").json()["components"]["securitySchemes"]
        assert {scheme["type"] for scheme in schemes.values()} == {"http", "apiKey"}


def _sample_value(text: str, name: str, **labels: str) -> float:
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and wanted <= set(match.group(1).split(",")):
            return float(match.group(2))
    raise AssertionError(f"no sample {name} with {labels} in:\n{text}")


def test_metrics_count_requests_errors_latency_and_rows(
    forest: RandomForestClassifier, tmp_path: Path
) -> None:
    model = load_model(save_forest(tmp_path / "m", forest))
    app = create_app({"cancer": model})
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for n in (1, 2, 4):
            assert http.post("/v2/models/cancer/infer", json=matrix_request(_rows(n))).is_success
        assert http.post("/predict", json={"records": _rows(3).to_dict("records")}).is_success
        assert http.post("/v2/models/cancer/infer", json={"inputs": []}).status_code == 400
        versioned = http.post("/v2/models/cancer/versions/1/infer", json=matrix_request(_rows(5)))
        assert versioned.is_success
        assert http.post("/v2/models/other/infer", json={"inputs": []}).status_code == 404
        text = http.get("/metrics").text
    infer = {"endpoint": "/v2/models/{name}/infer", "model": "cancer", "method": "POST"}
    assert _sample_value(text, "tunelab_http_requests_total", **infer, status="200") == 3
    assert _sample_value(text, "tunelab_http_requests_total", **infer, status="400") == 1
    assert _sample_value(text, "tunelab_http_request_errors_total", **infer, status="400") == 1
    assert _sample_value(text, "tunelab_http_request_duration_seconds_count", **infer) == 4
    assert _sample_value(text, "tunelab_http_request_duration_seconds_sum", **infer) > 0
    predict = {"endpoint": "/predict", "model": "cancer", "status": "200"}
    assert _sample_value(text, "tunelab_http_requests_total", **predict) == 1
    version = {"endpoint": "/v2/models/{name}/versions/{version}/infer", "model": "cancer"}
    assert _sample_value(text, "tunelab_http_requests_total", **version, status="200") == 1
    unknown = {"endpoint": "/v2/models/{name}/infer", "model": "", "status": "404"}
    assert _sample_value(text, "tunelab_http_request_errors_total", **unknown) == 1
    assert _sample_value(text, "tunelab_rows_scored_total", model="cancer", version="1") == 15
    assert _sample_value(text, "tunelab_model_version", model="cancer") == 1


def test_an_unexpected_model_failure_is_a_500_with_the_error_shape(
    forest: RandomForestClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(save_forest(tmp_path / "m", forest))

    def broken(X: Any, outputs: Any, **options: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(model, "predict_outputs", broken)
    app = create_app({"cancer": model})
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post("/predict", json={"records": _rows(1).to_dict("records")})
        text = http.get("/metrics").text
    assert _error(answer, 500) == "internal error (RuntimeError)"
    labels = {"endpoint": "/predict", "model": "cancer", "status": "500"}
    assert _sample_value(text, "tunelab_http_request_errors_total", **labels) == 1


def test_openapi_schema_documents_the_protocol_models(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for model in ("InferenceRequest", "RequestInput", "InferenceResponse", "PredictRequest"):
        assert model in components
    assert "FP32" in components["RequestInput"]["properties"]["datatype"]["enum"]
    infer = schema["paths"]["/v2/models/{name}/infer"]["post"]
    body_schema = infer["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/InferenceRequest"}
    assert {"200", "400", "404", "413"} <= set(infer["responses"])
    assert "securitySchemes" not in schema["components"]  # no API key on this server


# -- backends and hot reload -------------------------------------------------------------------


@pytest.mark.slow
def test_onnx_backend_is_used_when_the_artifact_has_a_verified_conversion(
    tmp_path: Path, forest: RandomForestClassifier
) -> None:
    model = load_model(save_forest(tmp_path / "onnx", forest, onnx=True))
    assert model.backend == "onnx"
    X = _rows(20, start=300)
    by_columns = column_request(X, list(X.columns)[::-1])
    # Strict datatypes: whole numbers in an INT64 tensor do not fit an FP64 input.
    integers = column_request(X)
    integers["inputs"][3].update(datatype="INT64", data=[round(v) for v in X.iloc[:, 3]])
    text = column_request(X)
    text["inputs"][2].update(datatype="BYTES", data=["big"] * len(X))
    app = create_app({"cancer": model})
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        metadata = http.get("/v2/models/cancer").json()
        outputs = outputs_of(http.post("/v2/models/cancer/infer", json=matrix_request(X)))
        columns = outputs_of(http.post("/v2/models/cancer/infer", json=by_columns))
        records = http.post("/predict", json={"records": X.to_dict("records")}).json()
        refused = [http.post("/v2/models/cancer/infer", json=body) for body in (integers, text)]
    assert metadata["platform"] == "tunelab_onnx"
    # The graph computes probabilities in float32, and the metadata says so.
    assert {o["name"]: o["datatype"] for o in metadata["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP32",
    }
    assert outputs["predict"].tolist() == forest.predict(X).tolist()
    np.testing.assert_allclose(outputs["predict_proba"], forest.predict_proba(X), atol=1e-5)
    assert columns["predict"].tolist() == forest.predict(X).tolist()
    np.testing.assert_allclose(columns["predict_proba"], forest.predict_proba(X), atol=1e-5)
    assert records["predictions"] == forest.predict(X).tolist()
    assert "inputs[3].datatype: input 'mean area' is FP64, got INT64" in _error(refused[0], 400)
    assert "inputs[2].datatype: input 'mean perimeter' is FP64" in _error(refused[1], 400)


@pytest.mark.slow
def test_follow_alias_swaps_versions_while_requests_keep_succeeding(
    tmp_path: Path, forest: RandomForestClassifier
) -> None:
    registry = Registry(tmp_path / "registry")
    first = registry.register("cancer", save_forest(tmp_path / "a", forest))
    registry.set_alias("cancer", "production", first)
    flipped = fit_forest(flip=True)
    second = registry.register("cancer", save_forest(tmp_path / "b", flipped))
    X = _rows(5, start=10)
    expected = {"1": forest.predict(X).tolist(), "2": flipped.predict(X).tolist()}
    assert expected["1"] != expected["2"]
    app = create_app(
        {"cancer": "cancer@production"},
        registry=registry,
        follow_alias=True,
        poll_seconds=0.1,
        backend="sklearn",
    )
    seen: list[tuple[int, Any, Any]] = []
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        stop = threading.Event()

        def keep_asking() -> None:
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                answer = http.post("/v2/models/cancer/infer", json=matrix_request(X))
                body = answer.json() if answer.status_code == 200 else {}
                outputs = {o["name"]: o["data"] for o in body.get("outputs", [])}
                seen.append((answer.status_code, body.get("model_version"), outputs.get("predict")))

        asker = threading.Thread(target=keep_asking)
        asker.start()
        _wait_for(lambda: len(seen) >= 5)
        registry.set_alias("cancer", "production", second)
        _wait_for(lambda: any(version == "2" for _, version, _ in seen))
        after = len(seen)
        _wait_for(lambda: len(seen) >= after + 5)
        stop.set()
        asker.join(timeout=10)
        reloads = app.state.metrics.reloads.labels("cancer")._value.get()
    assert not asker.is_alive()
    assert all(status == 200 for status, _, _ in seen), seen
    versions = [version for _, version, _ in seen]
    switch = versions.index("2")
    assert set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
    assert all(predictions == expected[version] for _, version, predictions in seen)
    assert reloads == 1


def _seconds_for_twenty_requests(url: str) -> float:
    """Twenty requests on one keep-alive connection. An answer leaves as headers then
    body: with Nagle's algorithm on, the body waits for the client's delayed
    acknowledgement, about 40 ms per request on Linux, 0.8 s in all."""
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/v2/health/live").status_code == 200
        start = time.perf_counter()
        for _ in range(20):
            assert http.get("/v2/health/live").status_code == 200
        return time.perf_counter() - start


def test_keep_alive_answers_are_not_held_back_by_nagle(server: ServerThread) -> None:
    elapsed = _seconds_for_twenty_requests(server.url)
    assert elapsed < 0.4, f"20 requests took {elapsed:.2f} s"


@pytest.mark.slow
def test_several_workers_answer_without_nagle_delays_either(registry: Registry) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    code = (
        "from tunelab.deploy.serve import serve\n"
        f"serve({{'cancer': 'cancer:1'}}, registry={registry.url!r}, port={port}, workers=2,"
        " log_level='warning')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNELAB_", "PROMETHEUS_"))}
    server = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(url) or server.poll() is not None, timeout=120)
        assert server.poll() is None, server.communicate()[0]
        elapsed = _seconds_for_twenty_requests(url)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    assert elapsed < 0.4, f"20 requests took {elapsed:.2f} s"


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_regressor_fitted_on_arrays_takes_one_2d_tensor(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    regressor = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    model = load_model(save_model(regressor, tmp_path / "reg", data=(X, y)))
    rows = X[:7]
    tensor = {"name": "input", "shape": [7, 3], "datatype": "FP64", "data": rows.tolist()}
    narrow = {**tensor, "datatype": "FP32"}
    app = create_app({"reg": model})
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        metadata = http.get("/v2/models/reg").json()
        outputs = outputs_of(http.post("/v2/models/reg/infer", json={"inputs": [tensor]}))
        refused = http.post("/v2/models/reg/infer", json={"inputs": [narrow]})
        by_rows = http.post("/predict", json={"data": rows.tolist()}).json()
        records = http.post("/predict", json={"records": [{"a": 1.0}]})
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 3]}]
    assert [o["name"] for o in metadata["outputs"]] == ["predict"]
    np.testing.assert_allclose(outputs["predict"], regressor.predict(rows))
    assert set(by_rows) == {"model_name", "model_version", "predictions"}
    np.testing.assert_allclose(by_rows["predictions"], regressor.predict(rows))
    assert 'send {"data"' in _error(records, 400)
    assert "input 'input' is FP64, got FP32" in _error(refused, 400)


# -- building the app --------------------------------------------------------------------------


def test_create_app_rejects_bad_arguments_by_name(
    registry: Registry, forest: RandomForestClassifier, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="non-empty mapping"):
        create_app({})
    with pytest.raises(ValueError, match="pass registry="):
        create_app({"cancer": "cancer@production"})
    with pytest.raises(ValueError, match="follow_alias=True needs"):
        create_app({"cancer": "cancer:1"}, registry=registry, follow_alias=True)
    with pytest.raises(ValueError, match="max_batch_rows must be a positive integer"):
        create_app({"cancer": "cancer:1"}, registry=registry, max_batch_rows=0)
    with pytest.raises(ValueError, match="name 'a b'"):
        create_app({"a b": "cancer:1"}, registry=registry)
    with pytest.raises(RegistryError, match="no alias 'staging'"):
        create_app({"cancer": "cancer@staging"}, registry=registry)
    X, y = cancer_data()
    bare = Signature(inputs=(("input", "float64", (None, 30)),))
    tensor_only = save_model(forest, tmp_path / "plain", signature=bare)
    served = create_app({"cancer": load_model(tensor_only)}).state.models.get("cancer")
    assert [(o.name, o.datatype) for o in served.outputs] == [
        ("predict", "INT64"),
        ("predict_proba", "FP64"),
    ]
    # Only a model that records nothing of its inputs lacks a signature (issue #10).
    unknown = RandomForestClassifier(n_estimators=2).fit(X.to_numpy(), y)
    del unknown.n_features_in_
    blind = save_model(unknown, tmp_path / "blind")
    with pytest.raises(ValueError, match="has no signature"):
        create_app({"blind": load_model(blind)})


def test_tensor_values_encode_for_json_and_for_the_binary_extension() -> None:
    assert json_values(np.array([[1.5, np.nan], [np.inf, -2.0]])) == [1.5, None, None, -2.0]
    assert json_values(np.array(["a", "b"], dtype=object)) == ["a", "b"]
    assert to_binary(np.array([1, 2]), "INT32") == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert to_binary(np.array(["hé", ""], dtype=object), "BYTES") == (
        b"\x03\x00\x00\x00h\xc3\xa9\x00\x00\x00\x00"
    )
