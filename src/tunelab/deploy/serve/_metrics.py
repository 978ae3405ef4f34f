"""Prometheus metrics of the server, recorded by its request path.

Each app owns its metrics (its own collector registry), so several apps can live in
one process. With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` before
the workers start (``tunelab serve --workers N`` does) and ``/metrics`` adds up
every worker's numbers.

The time of each model call goes into a ring buffer (one array write per request);
every :data:`PUBLISH_EVERY` calls, every :data:`PUBLISH_SECONDS` (the app's
lifespan task) and when ``/metrics`` is read, the calls since the last time are
added to the inference histogram in one step and the window's p50 and p95 are
recomputed. With several workers each publishes its own calls, so a scrape sees
every worker's calls up to :data:`PUBLISH_SECONDS` late.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import NamedTuple

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Model calls of small trees and linear models take tens of microseconds.
INFERENCE_BUCKETS = (
    *(0.000025, 0.00005, 0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075),
    *(0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1),
    *(0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WINDOW = 1024
"""Model calls the p50 and p95 gauges are computed over (per worker process)."""
PUBLISH_EVERY = 128
"""Calls between two updates of the histogram and gauges."""
PUBLISH_SECONDS = 1.0
"""Longest time a call waits to reach the histogram."""


class Metrics:
    """The server's counters, latency histogram and model gauges."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        labels = ["method", "endpoint", "model", "status"]
        self.requests = Counter(
            "tunelab_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.errors = Counter(
            "tunelab_http_request_errors",
            "HTTP requests answered with a 4xx or 5xx status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "tunelab_http_request_duration_seconds",
            "Time from receiving a request to sending the whole answer.",
            ["method", "endpoint", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "tunelab_rows_scored",
            "Input rows scored.",
            ["model", "version"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "tunelab_model_reloads",
            "Times a model was swapped for a new version after its alias moved.",
            ["model"],
            registry=self.registry,
        )
        self.version = Gauge(
            "tunelab_model_version",
            "Version of each model being served.",
            ["model"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.inference = Histogram(
            "tunelab_model_inference_seconds",
            "Time of the model call itself (the runtime, not HTTP, parsing or validation).",
            ["model", "version"],
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        # "mostrecent": with several workers, the window of the worker that published
        # last (each covers the same traffic); "all" would add a series per process and
        # keep dead workers' values.
        self.inference_p50 = Gauge(
            "tunelab_model_inference_p50_seconds",
            f"Median model call time over the last {WINDOW} calls (of one worker).",
            ["model", "version"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.inference_p95 = Gauge(
            "tunelab_model_inference_p95_seconds",
            f"95th percentile of the model call time over the last {WINDOW} calls (of one worker).",
            ["model", "version"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self._series: dict[tuple[str, str, str, int], _Series] = {}
        self._models: dict[tuple[str, str], ModelMetrics] = {}
        self._models_lock = threading.Lock()

    def publish(self) -> None:
        """Bring every model's inference histogram and gauges up to date."""
        for model in list(self._models.values()):
            model.publish()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        self.publish()
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return generate_latest(combined), CONTENT_TYPE_LATEST

    def observe(self, method: str, endpoint: str, model: str, status: int, seconds: float) -> None:
        """Record one answered request, labelled by its route template (a bounded set)."""
        labels = (method, endpoint, model)
        series = self._series.get((*labels, status))
        if series is None:
            series = self._series.setdefault((*labels, status), self._new_series(labels, status))
        for counter in series.counters:
            counter.inc()
        series.latency.observe(seconds)

    def model(self, model: str, version: str) -> ModelMetrics:
        """What requests to ``version`` of ``model`` record (made once per version)."""
        found = self._models.get((model, version))
        if found is None:
            with self._models_lock:
                found = self._models.get((model, version))
                if found is None:
                    found = ModelMetrics(
                        self.rows.labels(model, version),
                        self.inference.labels(model, version),
                        self.inference_p50.labels(model, version),
                        self.inference_p95.labels(model, version),
                    )
                    self._models[(model, version)] = found
        return found

    def _new_series(self, labels: tuple[str, str, str], status: int) -> _Series:
        counters = [self.requests.labels(*labels, str(status))]
        if status >= 400:
            counters.append(self.errors.labels(*labels, str(status)))
        return _Series(tuple(counters), self.latency.labels(*labels))


class _Series(NamedTuple):
    """The children one kind of request updates, kept because ``labels()`` is slow."""

    counters: tuple[Counter, ...]
    latency: Histogram


class ModelMetrics:
    """The rows counter and model-call timings of one served version.

    :meth:`record` is on every request's path: it takes a slot in a ring buffer and
    writes the time there, without a lock (``next`` on an :func:`itertools.count` is
    atomic). The rest of the work waits for :meth:`publish`.
    """

    def __init__(self, rows: Counter, histogram: Histogram, p50: Gauge, p95: Gauge) -> None:
        self.rows = rows
        self._histogram = histogram
        self._p50 = p50
        self._p95 = p95
        self._times = np.zeros(WINDOW)
        self._tickets = itertools.count()
        self._taken = 0
        self._published = 0
        self._publishing = threading.Lock()

    def record(self, seconds: float) -> None:
        """Keep the time of one model call."""
        ticket = next(self._tickets)
        self._times[ticket % WINDOW] = seconds
        self._taken = ticket + 1
        if ticket % PUBLISH_EVERY == PUBLISH_EVERY - 1:
            self.publish()

    def publish(self) -> None:
        """Add the calls recorded since the last time to the histogram; update p50 and p95.

        A thread preempted between taking its slot and writing it can, rarely, have the
        slot's previous time counted instead of its own: these are metrics, not accounts.
        """
        if not self._publishing.acquire(blocking=False):
            return  # another thread is publishing these calls
        try:
            taken = self._taken
            start = max(self._published, taken - WINDOW)
            if taken <= start:
                return
            self._published = taken
            slots = np.arange(start, taken) % WINDOW
            # One public observe per call: off the per-request path (once every
            # PUBLISH_EVERY calls), and it keeps to prometheus_client's API.
            for seconds in self._times[slots].tolist():
                self._histogram.observe(seconds)
            window = self._times[: min(taken, WINDOW)]
            p50, p95 = np.percentile(window, (50, 95))
            self._p50.set(float(p50))
            self._p95.set(float(p95))
        finally:
            self._publishing.release()
