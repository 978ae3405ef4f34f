"""What a model costs where it runs: ONNX Runtime latency, size on disk, int8 quality."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tunelab._validation import check_int
from tunelab.deploy._onnx import OnnxConversion, OnnxRunner, _n_rows, _take_rows, to_onnx
from tunelab.deploy._signature import is_dataframe

_MB = 1e6
PRECISIONS = ("float32", "int8")


@dataclass(frozen=True)
class DeploymentMeasurement:
    """Latency and size of a model served by ONNX Runtime on one thread.

    Latencies and ``size_mb`` describe the model as served at ``precision``: for
    ``int8`` they are the quantised model's.

    Attributes:
        latency_p50_ms: Median milliseconds of a one-row call.
        latency_p95_ms: 95th percentile of a one-row call.
        batch_p50_ms: Median milliseconds of a call on ``batch_rows`` rows.
        batch_p95_ms: 95th percentile of that call.
        batch_rows: Rows per batch call.
        size_mb: The served ONNX model, in megabytes (10^6 bytes).
        size_int8_mb: The dynamically int8-quantised model, or None if not built.
        int8_metric: The quality measure of the int8 comparison (``accuracy`` or
            ``mean_absolute_error``), or None.
        int8_delta: That measure for the int8 model minus the original model's.
        calls: Timed one-row calls (each percentile comes from this many).
        precision: ``float32`` or ``int8``: which model was timed and sized.
        size_float32_mb: The float32 ONNX model (equal to ``size_mb`` at float32).
    """

    latency_p50_ms: float
    latency_p95_ms: float
    batch_p50_ms: float
    batch_p95_ms: float
    batch_rows: int
    size_mb: float
    size_int8_mb: float | None
    int8_metric: str | None
    int8_delta: float | None
    calls: int
    precision: str = "float32"
    size_float32_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for a model card or a trial's user attributes)."""
        return asdict(self)


def measure(
    model: Any,
    sample: Any,
    *,
    y: Any = None,
    quantize: bool = True,
    calls: int = 200,
    batch_rows: int = 256,
    warmup: int = 20,
    precision: str = "float32",
) -> DeploymentMeasurement:
    """Convert ``model`` to ONNX (unless it already is) and measure what serving it costs.

    Each call is timed alone after ``warmup`` untimed ones, on one thread (as
    ``tunelab serve`` runs a model), cycling through the rows of ``sample`` so caches
    do not see one row only. Use it inside an objective to tune for latency and
    size as well as quality; the values depend on the machine, so compare trials
    measured on the same one.

    Args:
        model: A fitted scikit-learn estimator or pipeline, a tunelab.torch model, or an
            :class:`OnnxConversion` from :func:`to_onnx`, measured as it is (so a
            conversion that is also saved is not built twice; it must have been built
            with ``quantize=True`` to measure or report int8).
        sample: Representative input rows (also used for the conversion's parity check).
        y: True targets of ``sample``, so the int8 quality change is measured against
            them rather than against the original model's predictions.
        quantize: Also build and measure the int8 model (always done at ``int8``).
        calls: Timed one-row calls (batch calls: a quarter of it, at least 20).
        batch_rows: Rows per batch call.
        warmup: Untimed calls before timing.
        precision: The model to time and size: ``float32`` (the ONNX conversion) or
            ``int8`` (its dynamically quantised form, the file ``tunelab serve
            --backend onnx-int8`` runs).

    Returns:
        The measurement.

    Raises:
        ValueError: ``calls``, ``batch_rows`` or ``warmup`` is out of range, or
            ``precision`` is not ``float32`` or ``int8``, or ``model`` is a conversion
            without the int8 model that ``precision="int8"`` needs.
        ConversionError: The model cannot be converted, or the ONNX model disagrees
            with it beyond tolerance.
    """
    check_int("calls", calls, 1)
    check_int("batch_rows", batch_rows, 1)
    check_int("warmup", warmup, 0)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    served_int8 = precision == "int8"
    if isinstance(model, OnnxConversion):
        conversion = model
        if served_int8 and conversion.quantization is None:
            raise ValueError(
                "precision='int8' needs the int8 model: convert with to_onnx(..., quantize=True)"
            )
    else:
        conversion = to_onnx(
            model, sample, quantize=quantize or served_int8, y=y, latency_repeats=0
        )
    report = conversion.quantization if quantize or served_int8 else None
    # The same bytes and runner settings as the artifact's model.int8.onnx when served.
    served = report.model_bytes if served_int8 and report is not None else conversion.model_bytes
    runner = OnnxRunner(served, task=conversion.task, input_mode=conversion.input_mode)
    rows = [_row(sample, i % _n_rows(sample)) for i in range(min(calls, 64))]
    single = _timed(runner.run, rows, calls, warmup)
    batch = _timed(runner.run, [_take_rows(sample, batch_rows)], max(20, calls // 4), warmup)
    return DeploymentMeasurement(
        latency_p50_ms=float(np.percentile(single, 50)),
        latency_p95_ms=float(np.percentile(single, 95)),
        batch_p50_ms=float(np.percentile(batch, 50)),
        batch_p95_ms=float(np.percentile(batch, 95)),
        batch_rows=batch_rows,
        size_mb=len(served) / _MB,
        size_int8_mb=None if report is None else report.size_after / _MB,
        int8_metric=None if report is None else report.metric,
        int8_delta=None if report is None else report.delta,
        calls=calls,
        precision=precision,
        size_float32_mb=len(conversion.model_bytes) / _MB,
    )


def _row(sample: Any, position: int) -> Any:
    """Row ``position`` of ``sample`` as a one-row batch of the same kind."""
    if is_dataframe(sample):
        return sample.iloc[position : position + 1]
    return np.asarray(sample)[position : position + 1]


def _timed(run: Any, inputs: list[Any], calls: int, warmup: int) -> np.ndarray:
    """Milliseconds of each of ``calls`` calls, cycling through ``inputs``."""
    for i in range(warmup):
        run(inputs[i % len(inputs)])
    times = np.empty(calls)
    for i in range(calls):
        batch = inputs[i % len(inputs)]
        start = time.perf_counter()
        run(batch)
        times[i] = (time.perf_counter() - start) * 1e3
    return times
