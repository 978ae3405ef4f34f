"""Input checks and label encoding shared by all metrics.

The checks mirror what scikit-learn accepts and rejects, but each one is a single
vectorised pass so that validation never dominates the cost of a metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

__all__ = ["UndefinedMetricWarning"]

# Above this many distinct integer values between min and max, a bincount table is
# larger than the data itself and sorting (np.unique) becomes the cheaper encoder.
_MAX_DENSE_SPAN_FACTOR = 4
_MAX_DENSE_SPAN_FLOOR = 1 << 16
# Direct confusion-matrix counting on raw integer labels needs span**2 bins.
_MAX_DIRECT_SPAN = 64


def as_1d(y: Any, name: str) -> np.ndarray:
    """Return ``y`` as a 1-d array, accepting column vectors.

    Raises:
        ValueError: if ``y`` has more than one column or more than two dimensions.
    """
    arr = np.asarray(y)
    if arr.ndim == 1:
        return arr
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array of labels, got a scalar: {y!r}")
    raise ValueError(
        f"{name} must be 1-d (n_samples,), got shape {arr.shape}; multilabel and "
        "multioutput targets are not supported by this metric"
    )


def check_lengths(*arrays: np.ndarray | None) -> int:
    """Check that all non-None arrays have the same first dimension and return it."""
    lengths = [len(a) for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    return lengths[0] if lengths else 0


def check_weights(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validate ``sample_weight`` as a finite 1-d array of length ``n_samples``."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}")
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinity")
    return w


def _is_string_kind(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "USO" and arr.size > 0 and isinstance(arr.flat[0], str)


def _integral_view(y: np.ndarray, name: str) -> np.ndarray | None:
    """Return an int64 view of integer-valued numeric labels, or None for non-numeric.

    Float labels are accepted only when every value is a finite integer, as in
    scikit-learn's ``type_of_target`` (anything else is a "continuous" target).
    """
    kind = y.dtype.kind
    if kind == "b":
        return y.view(np.uint8).astype(np.intp)
    if kind in "iu":
        return y.astype(np.intp, copy=False)
    if kind == "f":
        with np.errstate(invalid="ignore"):
            as_int = y.astype(np.int64)
            integral = np.isfinite(y).all() and np.array_equal(as_int, y)
        if not integral:
            raise ValueError(
                f"Classification metrics can't handle continuous targets: {name} holds "
                "non-integer or non-finite floats. Pass class labels, or a regression metric."
            )
        return as_int
    return None


def _check_label_kinds(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    # Object arrays are checked after np.unique, on the few distinct labels only.
    kinds = {
        ("num" if a.dtype.kind in "biuf" else "str")
        for a in (y_true, y_pred)
        if a.dtype.kind != "O"
    }
    if len(kinds) > 1:
        raise ValueError("Mix of label input types (string and number)")


class LabelCodes:
    """Sorted union of the labels of two label arrays and their integer codes.

    Attributes:
        classes: sorted labels present in ``y_true`` or ``y_pred``.
        codes_true: index into ``classes`` of every element of ``y_true``.
        codes_pred: index into ``classes`` of every element of ``y_pred``.
    """

    __slots__ = ("classes", "codes_pred", "codes_true")

    def __init__(self, classes: np.ndarray, codes_true: np.ndarray, codes_pred: np.ndarray):
        self.classes = classes
        self.codes_true = codes_true
        self.codes_pred = codes_pred


def _result_dtype(y_true: np.ndarray, y_pred: np.ndarray) -> np.dtype:
    return np.result_type(y_true.dtype, y_pred.dtype)


def _dense_span_ok(span: int, n: int) -> bool:
    return span <= max(_MAX_DENSE_SPAN_FLOOR, _MAX_DENSE_SPAN_FACTOR * n)


def encode_pair(y_true: np.ndarray, y_pred: np.ndarray) -> LabelCodes:
    """Encode two label arrays against the sorted union of their labels.

    Integer labels with a moderate range are encoded with bincounts (linear time);
    anything else goes through one ``np.unique(..., return_inverse=True)``.
    """
    _check_label_kinds(y_true, y_pred)
    classes, (codes_true, codes_pred) = _encode([y_true, y_pred], ["y_true", "y_pred"])
    return LabelCodes(classes, codes_true, codes_pred)


def encode_labels(y: np.ndarray, name: str = "y_true") -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels of ``y`` and the index of each element among them."""
    classes, (codes,) = _encode([y], [name])
    return classes, codes


def _encode(arrays: list[np.ndarray], names: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    ints = [_integral_view(a, name) for a, name in zip(arrays, names, strict=True)]
    present_ints = [a for a in ints if a is not None]
    nonempty = [a for a in present_ints if a.size]
    if nonempty and len(present_ints) == len(ints):
        lo = min(a.min() for a in nonempty)
        span = int(max(a.max() for a in nonempty) - lo) + 1
        if _dense_span_ok(span, max(a.size for a in nonempty)):
            shifted = [a - lo if lo else a for a in present_ints]
            present = np.zeros(span, dtype=bool)
            for a in shifted:
                present |= np.bincount(a, minlength=span) > 0
            dtype = np.result_type(*(a.dtype for a in arrays))
            classes = (np.flatnonzero(present) + lo).astype(dtype)
            if present.all():  # labels are already 0..K-1 after the shift
                return classes, shifted
            remap = np.cumsum(present) - 1
            return classes, [remap[a] for a in shifted]
    return _encode_by_sorting(arrays)


def _encode_by_sorting(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    both = np.concatenate(arrays)
    try:
        classes, inverse = np.unique(both, return_inverse=True)
    except TypeError as exc:  # unorderable mixed objects, e.g. str and int
        raise ValueError("Mix of label input types (string and number)") from exc
    if classes.dtype == object and len({isinstance(c, str) for c in classes}) > 1:
        raise ValueError("Mix of label input types (string and number)")
    splits = np.cumsum([a.shape[0] for a in arrays])[:-1]
    return classes, np.split(inverse.reshape(-1), splits)


def codes_in(classes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each element of ``y`` in sorted ``classes`` and whether it was found."""
    if classes.size == 0:
        return np.zeros(y.shape[0], dtype=np.intp), np.zeros(y.shape[0], dtype=bool)
    try:
        pos = np.minimum(np.searchsorted(classes, y), classes.shape[0] - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = np.asarray(classes[pos] == y)
    except TypeError:  # labels of another kind (strings vs numbers) are never found
        return np.zeros(y.shape[0], dtype=np.intp), np.zeros(y.shape[0], dtype=bool)
    if found.shape != y.shape:
        found = np.zeros(y.shape[0], dtype=bool)
    return pos, found


def direct_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Count a confusion matrix straight from small-range integer labels.

    Returns ``(classes, cm, in_true)`` or None when the labels are not small
    integers; this skips the per-sample remapping that :func:`encode_pair` needs.
    """
    if y_true.dtype.kind not in "biu" or y_pred.dtype.kind not in "biu":
        return None
    it, ip = _integral_view(y_true, "y_true"), _integral_view(y_pred, "y_pred")
    assert it is not None and ip is not None
    lo = min(it.min(), ip.min())
    span = int(max(it.max(), ip.max()) - lo) + 1
    if span > _MAX_DIRECT_SPAN:
        return None
    cell = it * span + ip
    if lo:
        cell -= lo * (span + 1)
    counts = np.bincount(cell, minlength=span * span).reshape(span, span)
    present = counts.any(axis=0) | counts.any(axis=1)
    if sample_weight is None:
        full = counts
    else:
        full = np.bincount(cell, weights=sample_weight, minlength=span * span).reshape(span, span)
    classes = (np.flatnonzero(present) + lo).astype(_result_dtype(y_true, y_pred))
    return classes, full[np.ix_(present, present)], np.asarray(counts.any(axis=1))[present]


def label_index(classes: np.ndarray, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Positions of ``labels`` in sorted ``classes``; -1 where a label is absent.

    A label of another kind (a string among numbers or the reverse) is absent.
    """
    labels = np.asarray(labels)
    out = np.full(labels.shape[0], -1, dtype=np.intp)
    if classes.size == 0 or labels.size == 0:
        return out
    for i, label in enumerate(labels.tolist()):
        hits = _positions_equal(classes, label)
        if hits.size:
            out[i] = hits[0]
    return out


def _positions_equal(classes: np.ndarray, label: Any) -> np.ndarray:
    if isinstance(label, str) != _is_string_kind(classes):
        return np.empty(0, dtype=np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eq = np.asarray(classes == label)
    if eq.shape != classes.shape:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(eq)


def contains_label(classes: np.ndarray, label: Any) -> bool:
    """``label in classes`` with numpy's elementwise equality, never raising."""
    return _positions_equal(classes, label).size > 0


def check_zero_division(zero_division: Any) -> float:
    """Validate ``zero_division`` and return the value it substitutes (0 for "warn")."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, (int, float, np.floating, np.integer)) and not isinstance(
        zero_division, bool
    ):
        if np.isnan(zero_division):
            return float("nan")
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(f"zero_division must be 'warn', 0, 1 or np.nan, got {zero_division!r}")


def warn_undefined(message: str) -> None:
    """Emit scikit-learn's UndefinedMetricWarning so existing filters apply."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)
