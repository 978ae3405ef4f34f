"""Prometheus metrics of the server, recorded by its request path.

Each app owns its metrics (its own collector registry), so several apps can live in
one process. With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` before
the workers start (``tunelab serve --workers N`` does) and ``/metrics`` adds up
every worker's numbers.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self._series: dict[tuple[str, str, str, int], _Series] = {}
        self._rows: dict[tuple[str, str], Counter] = {}

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
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

    def scored(self, model: str, version: str, rows: int) -> None:
        """Count ``rows`` input rows scored by ``version`` of ``model``."""
        counter = self._rows.get((model, version))
        if counter is None:
            counter = self._rows.setdefault((model, version), self.rows.labels(model, version))
        counter.inc(rows)

    def _new_series(self, labels: tuple[str, str, str], status: int) -> _Series:
        counters = [self.requests.labels(*labels, str(status))]
        if status >= 400:
            counters.append(self.errors.labels(*labels, str(status)))
        return _Series(tuple(counters), self.latency.labels(*labels))


class _Series(NamedTuple):
    """The children one kind of request updates, kept because ``labels()`` is slow."""

    counters: tuple[Counter, ...]
    latency: Histogram
