"""Conversion of scikit-learn models to ONNX, checked against the original.

A conversion is accepted only when ONNX Runtime reproduces the model on the sample:
the same labels and probabilities (or regression outputs) within tolerance. Inputs
are fed either as one float32 matrix (``input_mode="matrix"``) or as one tensor per
data-frame column (``"columns"``, needed when a pipeline selects columns by name or
mixes text and numbers).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab._imports import optional_import
from tunelab.deploy._card import library_versions
from tunelab.deploy._errors import ConversionError
from tunelab.deploy._signature import is_dataframe

ONNX_LIBRARIES = ("skl2onnx", "onnx", "onnxruntime")
_LATENCY_ROWS = (1, 1000)
_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


@dataclass(frozen=True)
class QuantizationReport:
    """How dynamic int8 quantisation changed the ONNX model on the sample.

    Attributes:
        model_bytes: The quantised ONNX model.
        size_before: Bytes of the float model.
        size_after: Bytes of the quantised model.
        quantized_nodes: Integer-arithmetic nodes in the quantised graph (0 means
            nothing was quantisable, e.g. tree ensembles).
        metric: ``accuracy`` (classifiers) or ``mean_absolute_error`` (regressors).
        reference: ``y`` when true targets were given, else ``sklearn`` (the
            original model's predictions stand in for the truth).
        before: The metric for the original scikit-learn model.
        after: The metric for the quantised ONNX model.
        delta: ``after - before``.
        max_abs_diff: Largest absolute difference from scikit-learn's probabilities
            (classifiers) or predictions (regressors).
    """

    model_bytes: bytes = field(repr=False)
    size_before: int
    size_after: int
    quantized_nodes: int
    metric: str
    reference: str
    before: float
    after: float
    delta: float
    max_abs_diff: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, without the model bytes."""
        return {
            "size_before": self.size_before,
            "size_after": self.size_after,
            "quantized_nodes": self.quantized_nodes,
            "metric": self.metric,
            "reference": self.reference,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "max_abs_diff": self.max_abs_diff,
        }


@dataclass(frozen=True)
class OnnxConversion:
    """A verified ONNX conversion.

    Attributes:
        model_bytes: The serialized ONNX model (float32 arithmetic).
        task: ``classification`` or ``regression``.
        input_mode: ``matrix`` (one float32 input ``X``) or ``columns``.
        max_abs_diff: Largest absolute difference from scikit-learn on the sample
            (probabilities for classifiers, predictions for regressors).
        rtol: Relative tolerance the parity check used.
        atol: Absolute tolerance the parity check used.
        n_rows: Rows of the sample the parity check ran on.
        latency: Rows ``{"backend", "rows", "median_ms", "repeats"}`` comparing
            scikit-learn with ONNX Runtime (and int8 when quantised).
        quantization: The int8 report, when quantisation was asked for.
        libraries: Versions of the conversion libraries.
    """

    model_bytes: bytes = field(repr=False)
    task: str
    input_mode: str
    max_abs_diff: float
    rtol: float
    atol: float
    n_rows: int
    latency: list[dict[str, Any]]
    quantization: QuantizationReport | None = None
    libraries: dict[str, str] = field(default_factory=dict)

    def to_card(self) -> dict[str, Any]:
        """The ``onnx`` section of a model card (file names are added by the writer)."""
        return {
            "status": "ok",
            "task": self.task,
            "input_mode": self.input_mode,
            "parity": {
                "rows": self.n_rows,
                "max_abs_diff": self.max_abs_diff,
                "rtol": self.rtol,
                "atol": self.atol,
            },
            "latency": self.latency,
            "quantization": self.quantization.to_dict() if self.quantization else None,
        }


class OnnxRunner:
    """Runs an ONNX model with ONNX Runtime on the same inputs scikit-learn takes.

    Args:
        model_bytes: A serialized ONNX model made by :func:`to_onnx`.
        task: ``classification`` or ``regression``.
        input_mode: ``matrix`` or ``columns``.
    """

    def __init__(self, model_bytes: bytes, *, task: str, input_mode: str) -> None:
        ort = _import("onnxruntime")
        options = ort.SessionOptions()
        # Models run beside other work; one thread keeps latency predictable.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = self._session.get_inputs()
        self.task = task
        self.input_mode = input_mode

    @property
    def output_dtypes(self) -> list[np.dtype[Any]]:
        """NumPy dtypes the graph computes its outputs in (labels, then probabilities)."""
        outputs = self._session.get_outputs()
        return [np.dtype(_ORT_TYPES.get(item.type, object)) for item in outputs]

    def run(self, X: Any) -> list[np.ndarray]:
        """All outputs of the graph for ``X``."""
        return list(self._session.run(None, self._feed(X)))

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifiers) or predicted values (regressors)."""
        return _labels(self.run(X)[0])

    def predict_both(self, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and, for classifiers, probabilities from one run of the graph."""
        outputs = self.run(X)
        proba = np.asarray(outputs[1]) if self.task == "classification" else None
        return _labels(outputs[0]), proba

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class.

        Raises:
            AttributeError: The model is not a classifier.
        """
        if self.task != "classification":
            raise AttributeError("predict_proba is only available for classifiers")
        return np.asarray(self.run(X)[1])

    def _feed(self, X: Any) -> dict[str, np.ndarray]:
        if self.input_mode == "matrix":
            only = self._inputs[0]
            matrix = X.to_numpy() if is_dataframe(X) else np.asarray(X)
            return {only.name: matrix.astype(_ORT_TYPES.get(only.type, np.float32))}
        feed = {}
        for item in self._inputs:
            column = X[item.name].to_numpy()
            kind = _ORT_TYPES.get(item.type, np.float32)
            values = column.astype(str).astype(object) if kind is object else column.astype(kind)
            feed[item.name] = values.reshape(-1, 1)
        return feed


def to_onnx(
    model: Any,
    sample: Any,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    quantize: bool = False,
    y: Any = None,
    latency_repeats: int = 15,
) -> OnnxConversion:
    """Convert a fitted scikit-learn classifier or regressor (or pipeline), or a
    :mod:`tunelab.torch` network or estimator, to ONNX.

    The converted model runs on ``sample`` with ONNX Runtime and must give the same
    labels and probabilities within ``|onnx - sklearn| <= atol + rtol * |sklearn|``
    (regressors: predictions within that tolerance).

    Args:
        model: A fitted scikit-learn estimator or pipeline, or a tunelab.torch ``MLP``,
            ``TorchClassifier`` or ``TorchRegressor`` (exported with torch.onnx).
        sample: Representative input rows (NumPy array or DataFrame), a few hundred
            rows is plenty.
        rtol: Relative tolerance of the parity check.
        atol: Absolute tolerance of the parity check.
        quantize: Also build a dynamically int8-quantised model and report how it
            changes accuracy on the sample.
        y: True targets for ``sample``; when given, the quantisation report measures
            accuracy against them instead of against scikit-learn's predictions.
        latency_repeats: Timed repeats per latency cell (0 skips the latency table).

    Returns:
        The verified conversion.

    Raises:
        ConversionError: skl2onnx (or torch.onnx) cannot convert the model, or ONNX
            Runtime's outputs differ beyond tolerance (the message gives the largest
            difference).
        ImportError: The ``onnx`` extra is not installed.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    if latency_repeats < 0:
        raise ValueError(f"latency_repeats must be >= 0, got {latency_repeats}")
    # Imported here: the PyTorch path builds on this module.
    from tunelab.deploy._torch import is_torch_model, torch_to_onnx

    if is_torch_model(model):
        return torch_to_onnx(
            model,
            sample,
            rtol=rtol,
            atol=atol,
            quantize=quantize,
            y=y,
            latency_repeats=latency_repeats,
        )
    task = model_task(model)
    if task not in ("classification", "regression"):
        raise ConversionError(
            f"only classifiers and regressors can be converted, not {type(model).__name__}"
        )
    model_bytes, input_mode = _convert(model, sample, task)
    runner = OnnxRunner(model_bytes, task=task, input_mode=input_mode)
    max_diff = check_parity(model, runner, sample, task, rtol=rtol, atol=atol)
    report = quantize_graph(model, model_bytes, sample, y, task, input_mode) if quantize else None
    runners: dict[str, Callable[[Any], Any]] = {"onnxruntime": runner.run}
    if report is not None:
        int8 = OnnxRunner(report.model_bytes, task=task, input_mode=input_mode)
        runners["onnxruntime-int8"] = int8.run
    latency = latency_table(model, runners, sample, latency_repeats) if latency_repeats else []
    return OnnxConversion(
        model_bytes=model_bytes,
        task=task,
        input_mode=input_mode,
        max_abs_diff=max_diff,
        rtol=rtol,
        atol=atol,
        n_rows=_n_rows(sample),
        latency=latency,
        quantization=report,
        libraries=library_versions(ONNX_LIBRARIES),
    )


def model_task(model: Any) -> str:
    """``classification``, ``regression`` or ``other``, by scikit-learn's tags."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "classification"
    return "regression" if is_regressor(model) else "other"


def _convert(model: Any, sample: Any, task: str) -> tuple[bytes, str]:
    skl2onnx = _import("skl2onnx")
    options = {id(model): {"zipmap": False}} if task == "classification" else None
    failures = []
    for mode, initial_types in _input_candidates(sample):
        try:
            proto = skl2onnx.convert_sklearn(model, initial_types=initial_types, options=options)
        except Exception as exc:
            failures.append(f"{mode} input: {type(exc).__name__}: {first_line(exc)}")
            continue
        return proto.SerializeToString(), mode
    raise ConversionError(
        f"skl2onnx cannot convert {type(model).__name__}: " + " | ".join(failures)
    )


def _input_candidates(sample: Any) -> list[tuple[str, list[tuple[str, Any]]]]:
    types = _import("skl2onnx.common.data_types")
    candidates = []
    if is_dataframe(sample):
        kinds = [getattr(dtype, "kind", "O") for dtype in sample.dtypes]
        if all(kind in "biuf" for kind in kinds):
            candidates.append(("matrix", [("X", types.FloatTensorType([None, sample.shape[1]]))]))
        per_column = []
        for name, kind in zip(sample.columns, kinds, strict=True):
            if kind == "f":
                tensor = types.FloatTensorType([None, 1])
            elif kind in "biu":
                tensor = types.Int64TensorType([None, 1])
            else:
                tensor = types.StringTensorType([None, 1])
            per_column.append((str(name), tensor))
        candidates.append(("columns", per_column))
        return candidates
    array = np.asarray(sample)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise ConversionError(
            "sample must be a numeric 2-D array or a pandas DataFrame, got "
            f"{array.ndim}-D {array.dtype}"
        )
    return [("matrix", [("X", types.FloatTensorType([None, array.shape[1]]))])]


def check_parity(
    model: Any,
    runner: OnnxRunner,
    sample: Any,
    task: str,
    *,
    rtol: float,
    atol: float,
    source: str = "scikit-learn",
) -> float:
    """The largest difference between ``model``'s outputs and the graph's on ``sample``.

    Raises:
        ConversionError: A label differs, or a prediction or probability differs
            beyond the tolerance; the message says where and by how much.
    """
    outputs = runner.run(sample)
    if task == "regression":
        expected = np.asarray(model.predict(sample), dtype=np.float64)
        return _within_tolerance("predictions", expected, outputs[0], rtol, atol, source)
    labels = np.asarray(model.predict(sample))
    onnx_labels = np.asarray(outputs[0]).reshape(labels.shape)
    mismatched = np.flatnonzero(_labels_differ(labels, onnx_labels))
    if mismatched.size:
        row = int(mismatched[0])
        raise ConversionError(
            f"ONNX labels differ from {source} on {mismatched.size} of {labels.size} "
            f"sample rows (first at row {row}: {source} {labels[row]!r}, onnx "
            f"{onnx_labels[row]!r}); conversion refused"
        )
    if not hasattr(model, "predict_proba"):
        return 0.0
    expected = np.asarray(model.predict_proba(sample), dtype=np.float64)
    return _within_tolerance("probabilities", expected, outputs[1], rtol, atol, source)


def _within_tolerance(
    what: str, expected: np.ndarray, actual: Any, rtol: float, atol: float, source: str
) -> float:
    got = np.asarray(actual, dtype=np.float64)
    if got.size != expected.size:
        raise ConversionError(
            f"ONNX {what} have shape {got.shape}, {source}'s {expected.shape}; conversion refused"
        )
    got = got.reshape(expected.shape)
    diff = np.abs(got - expected)
    max_diff = float(diff.max()) if diff.size else 0.0
    if np.any(diff > atol + rtol * np.abs(expected)):
        raise ConversionError(
            f"ONNX {what} differ from {source} beyond tolerance: max abs difference "
            f"{max_diff:.3g} (rtol={rtol}, atol={atol}); conversion refused"
        )
    return max_diff


def _labels_differ(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    if expected.dtype.kind in "biuf" and actual.dtype.kind in "biuf":
        return np.asarray(expected != actual)
    return np.asarray(expected.astype(str) != actual.astype(str))


class _DropQuantizationHint(logging.Filter):
    # onnxruntime logs this advice on the root logger on every call.
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_graph(
    model: Any, model_bytes: bytes, sample: Any, y: Any, task: str, input_mode: str
) -> QuantizationReport:
    onnx = _import("onnx")
    quantized = _quantize_dynamic(_one_import_per_domain(onnx, model_bytes))
    graph = onnx.load_from_string(quantized).graph
    integer_nodes = sum(
        node.op_type.endswith("Integer") or node.op_type.startswith("QLinear")
        for node in graph.node
    )
    runner = OnnxRunner(quantized, task=task, input_mode=input_mode)
    before, after, max_diff, metric = _compare_quantized(model, runner, sample, y, task)
    return QuantizationReport(
        model_bytes=quantized,
        size_before=len(model_bytes),
        size_after=len(quantized),
        quantized_nodes=int(integer_nodes),
        metric=metric,
        reference="y" if y is not None else "sklearn",
        before=before,
        after=after,
        delta=after - before,
        max_abs_diff=max_diff,
    )


def _one_import_per_domain(onnx: Any, model_bytes: bytes) -> bytes:
    """The model with each operator-set domain imported once, at its highest version.

    skl2onnx can list the standard domain twice (linear models, tree ensembles); ONNX
    Runtime runs such a graph, but its quantiser refuses it ("Failed to find proper
    ai.onnx domain").
    """
    proto = onnx.load_from_string(model_bytes)
    versions: dict[str, int] = {}
    for opset in proto.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        versions[domain] = max(versions.get(domain, 0), int(opset.version))
    if len(versions) == len(proto.opset_import):
        return model_bytes
    del proto.opset_import[:]
    for domain, version in versions.items():
        proto.opset_import.append(onnx.helper.make_opsetid(domain, version))
    return bytes(proto.SerializeToString())


def _quantize_dynamic(model_bytes: bytes) -> bytes:
    quantization = _import("onnxruntime.quantization")
    hint_filter = _DropQuantizationHint()
    root = logging.getLogger()
    root.addFilter(hint_filter)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp, "model.onnx"), Path(tmp, "model.int8.onnx")
            source.write_bytes(model_bytes)
            quantization.quantize_dynamic(source, target, weight_type=quantization.QuantType.QInt8)
            return target.read_bytes()
    except Exception as exc:
        raise ConversionError(f"int8 quantisation failed: {first_line(exc)}") from exc
    finally:
        root.removeFilter(hint_filter)


def _compare_quantized(
    model: Any, runner: OnnxRunner, sample: Any, y: Any, task: str
) -> tuple[float, float, float, str]:
    predicted = np.asarray(model.predict(sample))
    quantized = runner.predict(sample).reshape(predicted.shape)
    truth = predicted if y is None else np.asarray(y).reshape(predicted.shape)
    if task == "classification":
        before = float(np.mean(~_labels_differ(truth, predicted)))
        after = float(np.mean(~_labels_differ(truth, quantized)))
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(sample), dtype=np.float64)
            diff = np.abs(runner.predict_proba(sample).reshape(proba.shape) - proba)
        else:
            diff = np.zeros(1)
        return before, after, float(diff.max()), "accuracy"
    truth_f = truth.astype(np.float64)
    before = float(np.mean(np.abs(predicted - truth_f)))
    after = float(np.mean(np.abs(quantized - truth_f)))
    return before, after, float(np.max(np.abs(quantized - predicted))), "mean_absolute_error"


def latency_table(
    model: Any, runners: dict[str, Callable[[Any], Any]], sample: Any, repeats: int
) -> list[dict[str, Any]]:
    backends: dict[str, Callable[[Any], Any]] = {"sklearn": model.predict, **runners}
    rows = []
    for n_rows in _LATENCY_ROWS:
        batch = _take_rows(sample, n_rows)
        for backend, predict in backends.items():
            predict(batch)  # warm-up: first calls pay for allocation and caches
            timings = []
            for _ in range(repeats):
                start = time.perf_counter()
                predict(batch)
                timings.append(time.perf_counter() - start)
            rows.append(
                {
                    "backend": backend,
                    "rows": n_rows,
                    "median_ms": statistics.median(timings) * 1e3,
                    "repeats": repeats,
                }
            )
    return rows


def _take_rows(sample: Any, n_rows: int) -> Any:
    positions = np.arange(n_rows) % _n_rows(sample)
    if is_dataframe(sample):
        return sample.iloc[positions].reset_index(drop=True)
    return np.asarray(sample)[positions]


def _n_rows(sample: Any) -> int:
    return int(sample.shape[0]) if hasattr(sample, "shape") else len(sample)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _import(module: str) -> Any:
    return optional_import(module, extra="onnx", purpose="ONNX support")


def _labels(output: Any) -> np.ndarray:
    array = np.asarray(output)
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array
