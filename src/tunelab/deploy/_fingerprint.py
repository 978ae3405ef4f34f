"""A SHA-256 fingerprint of a whole data set, independent of how it sits in memory.

Every value counts: the digest covers a canonical byte form of all of ``X`` (and
``y``), never a sample. Arrays contribute their dtype, shape and C-ordered bytes;
data frames their column names, dtypes and values (the index is ignored, since it
labels rows rather than holding data). Object values are encoded one by one with
their type, because the raw bytes of an object array are memory addresses.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np

_VERSION = b"tunelab-data-fingerprint-v1"
_RAW_KINDS = "biufcmMUS"


def data_fingerprint(X: Any, y: Any = None) -> dict[str, Any]:
    """Fingerprint a data set.

    Args:
        X: Features: a NumPy array, a pandas DataFrame or Series, a SciPy sparse
            matrix, or anything ``numpy.asarray`` accepts.
        y: Optional target, in any of the same forms.

    Returns:
        ``{"sha256": hex digest, "n_rows": int, "n_columns": int | None,
        "has_target": bool}``.
    """
    digest = hashlib.sha256(_VERSION)
    _update(digest, b"X", X)
    if y is not None:
        _update(digest, b"y", y)
    shape = getattr(X, "shape", None) or np.asarray(X).shape
    return {
        "sha256": digest.hexdigest(),
        "n_rows": int(shape[0]) if len(shape) else 1,
        "n_columns": int(shape[1]) if len(shape) > 1 else None,
        "has_target": y is not None,
    }


def _update(digest: Any, role: bytes, value: Any) -> None:
    _chunk(digest, role)
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        _chunk(digest, b"dataframe")
        _chunk(digest, str(value.shape).encode())
        for position, name in enumerate(value.columns):
            _update_series(digest, name, value.iloc[:, position])
    elif pandas is not None and isinstance(value, pandas.Series):
        _chunk(digest, b"series")
        _update_series(digest, value.name, value)
    elif _is_sparse(value):
        csr = value.tocsr()
        _chunk(digest, b"sparse")
        _chunk(digest, str(csr.shape).encode())
        for part in (csr.data, csr.indices, csr.indptr):
            _update_array(digest, np.asarray(part))
    else:
        _chunk(digest, b"ndarray")
        _update_array(digest, np.asarray(value))


def _update_series(digest: Any, name: Any, series: Any) -> None:
    _chunk(digest, _encode_scalar(name))
    _chunk(digest, str(series.dtype).encode())
    if isinstance(series.dtype, np.dtype):
        _update_array(digest, series.to_numpy())
    else:
        # Extension dtypes (category, string, nullable integers) have no stable raw
        # buffer, so their values are encoded as Python objects.
        _update_array(digest, series.to_numpy(dtype=object))


def _update_array(digest: Any, array: np.ndarray) -> None:
    _chunk(digest, array.dtype.str.encode())
    _chunk(digest, str(array.shape).encode())
    if array.dtype.kind in _RAW_KINDS:
        digest.update(np.ascontiguousarray(array).tobytes())
        return
    for item in array.ravel(order="C"):
        _chunk(digest, _encode_scalar(item))


def _encode_scalar(value: Any) -> bytes:
    kind = f"{type(value).__module__}.{type(value).__qualname__}".encode()
    if isinstance(value, str):
        payload = value.encode("utf-8")
    elif isinstance(value, bytes):
        payload = value
    else:
        payload = repr(value).encode("utf-8")
    return kind + b"\0" + payload


def _chunk(digest: Any, data: bytes) -> None:
    # A length prefix keeps ("ab", "c") and ("a", "bc") apart.
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _is_sparse(value: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))
