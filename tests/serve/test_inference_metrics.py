"""The model-call latency the server publishes in /metrics, and the card's deployment."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from tests.serve import cancer_data
from tunelab.deploy import load_model, save_model
from tunelab.deploy.serve import ServerThread, create_app
from tunelab.deploy.serve._metrics import INFERENCE_BUCKETS, PUBLISH_EVERY, WINDOW, Metrics


def samples(text: str, name: str, model: str = "m", version: str = "1") -> dict[str, float]:
    """Values of ``name`` for the model, keyed by their ``le`` label (or "")."""
    found = {}
    pattern = re.compile(rf"{name}\{{(.*)\}} (\S+)")
    for line in text.splitlines():
        match = pattern.fullmatch(line)
        if match and f'model="{model}"' in match.group(1) and f'version="{version}"' in line:
            le = re.search(r'le="([^"]+)"', match.group(1))
            found[le.group(1) if le else ""] = float(match.group(2))
    return found


def test_calls_reach_the_histogram_once_and_the_gauges_cover_the_last_window() -> None:
    metrics = Metrics()
    recorder = metrics.model("m", "1")
    rng = np.random.default_rng(0)
    # More calls than the window, not a multiple of the publishing block.
    times = rng.lognormal(np.log(2e-4), 1.0, size=WINDOW + 3 * PUBLISH_EVERY + 17)
    for seconds in times:
        recorder.record(float(seconds))
    metrics.render()
    text = metrics.render()[0].decode()  # a second scrape adds nothing
    buckets = samples(text, "tunelab_model_inference_seconds_bucket")
    expected = [int(np.sum(times <= bound)) for bound in INFERENCE_BUCKETS]
    assert [buckets[key] for key in list(buckets)[:-1]] == expected
    assert buckets["+Inf"] == len(times)
    assert samples(text, "tunelab_model_inference_seconds_count")[""] == len(times)
    total = samples(text, "tunelab_model_inference_seconds_sum")[""]
    assert total == pytest.approx(times.sum(), rel=1e-9)
    recent = times[-WINDOW:]
    p50 = samples(text, "tunelab_model_inference_p50_seconds")[""]
    p95 = samples(text, "tunelab_model_inference_p95_seconds")[""]
    assert p50 == pytest.approx(float(np.percentile(recent, 50)), rel=1e-12)
    assert p95 == pytest.approx(float(np.percentile(recent, 95)), rel=1e-12)
    # Sub-millisecond buckets resolve calls of tens of microseconds.
    assert 0.0001 in INFERENCE_BUCKETS and min(INFERENCE_BUCKETS) < 0.0001


@pytest.mark.slow
def test_served_requests_show_the_model_call_latency_and_the_card_deployment(
    tmp_path: Path,
) -> None:
    X, y = cancer_data()
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    deployment = {
        "tuned": {"latency_p95_ms": 0.05, "size_mb": 0.001},
        "refit": {"latency_p95_ms": 0.06, "size_mb": 0.001, "precision": "float32"},
        "precision": "float32",
        "pick": {"rule": "latency_p95_ms < 1", "by": "f1", "trial": 7},
    }
    path = save_model(model, tmp_path / "m", data=(X, y), onnx=True, deployment=deployment)
    loaded = load_model(path)
    assert loaded.backend == "onnx" and loaded.runner is not None
    # One thread, as measure() times it, so served and tuned latencies compare.
    options = loaded.runner._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    app = create_app({"m": loaded})
    rows = X.iloc[:5]
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for index in range(3):
            record = rows.iloc[index : index + 1].to_dict("records")
            assert http.post("/predict", json={"records": record}).is_success
        assert http.post("/predict", json={"records": [{"nope": 1}]}).status_code == 400
        matrix = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 30]}]}
        matrix["inputs"][0]["data"] = rows.iloc[3:5].to_numpy().ravel().tolist()
        assert http.post("/v2/models/m/infer", json=matrix).is_success
        text = http.get("/metrics").text
        metadata = http.get("/v2/models/m").json()
    # Three one-row calls and one two-row call; the refused request never ran the model.
    assert samples(text, "tunelab_model_inference_seconds_count")[""] == 4
    buckets = samples(text, "tunelab_model_inference_seconds_bucket")
    assert buckets["+Inf"] == 4 and "0.0001" in buckets and "2.5e-05" in buckets
    counts = list(buckets.values())
    assert counts == sorted(counts)
    model_seconds = samples(text, "tunelab_model_inference_seconds_sum")[""]
    http_seconds = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("tunelab_http_request_duration_seconds_sum") and "/predict" in line
    )
    assert 0 < model_seconds < http_seconds
    p50 = samples(text, "tunelab_model_inference_p50_seconds")[""]
    p95 = samples(text, "tunelab_model_inference_p95_seconds")[""]
    assert 0 < p50 <= p95 <= model_seconds
    assert metadata["parameters"]["deployment"] == deployment
