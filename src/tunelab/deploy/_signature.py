"""Input/output signatures: what a model expects and returns, and checking inputs.

A signature is either *columnar* (one field per data-frame column, for models fitted
on pandas data) or a *tensor* (a single 2-D array input). Checking an input compares
dtype *kinds* rather than exact dtypes, so an integer column fed to a model fitted on
floats passes while text fed to a numeric column fails with the column named.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from tunelab._imports import optional_import
from tunelab.deploy._errors import ArtifactError, SignatureError

# The dtype of a column whose name the estimator recorded but whose type it did not.
ANY_DTYPE = "any"
_TEXT_KINDS = frozenset("OUS")
_ACCEPTED_KINDS = {
    "f": frozenset("biuf"),
    "i": frozenset("biu"),
    "u": frozenset("biu"),
    "b": frozenset("b"),
    "c": frozenset("biufc"),
    "M": frozenset("M"),
    "m": frozenset("m"),
}
_PANDAS_KINDS = {"string": "O", "category": "O", "str": "O", "object": "O", "boolean": "b"}


class FieldSpec(NamedTuple):
    """One input or output: a name, a dtype name and a shape (``None`` = any length).

    For columnar inputs the shape is ``(None,)`` (one value per row); for a tensor
    input it is ``(None, n_features)``.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] | None = None


@dataclass(frozen=True)
class Signature:
    """The inputs a model accepts and the outputs it produces.

    Attributes:
        inputs: Input fields in the order the model expects them.
        outputs: Output fields (``prediction`` and, for classifiers, ``probabilities``).
    """

    inputs: tuple[FieldSpec, ...]
    outputs: tuple[FieldSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _fields(self.inputs, "inputs"))
        object.__setattr__(self, "outputs", _fields(self.outputs, "outputs"))
        if not self.inputs:
            raise ValueError("Signature.inputs must hold at least one field")

    @property
    def is_tensor(self) -> bool:
        """True when the model takes one 2-D array rather than named columns."""
        only = self.inputs[0]
        return len(self.inputs) == 1 and only.shape is not None and len(only.shape) >= 2

    @property
    def column_names(self) -> list[str]:
        """Names of the input fields, in order."""
        return [field.name for field in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "inputs": [_field_to_dict(field) for field in self.inputs],
            "outputs": [_field_to_dict(field) for field in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Inverse of :meth:`to_dict`."""
        return cls(
            inputs=tuple(_field_from_dict(item) for item in data["inputs"]),
            outputs=tuple(_field_from_dict(item) for item in data.get("outputs", [])),
        )

    def validate(self, X: Any) -> Any:
        """Check ``X`` against the inputs and return it in the form the model expects.

        Columnar signatures take a pandas DataFrame (or a mapping of column to values)
        and return the columns in signature order, extra columns dropped. Tensor
        signatures take an array (or a DataFrame) and return a NumPy array.

        Raises:
            SignatureError: Naming the missing column, or the field whose dtype or
                shape does not fit.
        """
        return self._validate_tensor(X) if self.is_tensor else self._validate_columns(X)

    def _validate_tensor(self, X: Any) -> np.ndarray:
        field = self.inputs[0]
        array = X.to_numpy() if is_dataframe(X) else np.asarray(X)
        assert field.shape is not None
        if array.ndim != len(field.shape):
            raise SignatureError(
                f"input {field.name!r}: expected a {len(field.shape)}-D array of shape "
                f"{_shape_text(field.shape)}, got shape {array.shape}"
            )
        for axis, (want, got) in enumerate(zip(field.shape, array.shape, strict=True)):
            if want is not None and want != got:
                raise SignatureError(
                    f"input {field.name!r}: axis {axis} must have length {want} "
                    f"(shape {_shape_text(field.shape)}), got shape {array.shape}"
                )
        _check_dtype(field, array.dtype)
        return array

    def _validate_columns(self, X: Any) -> Any:
        frame = _as_dataframe(X, self.column_names)
        by_name = {str(column): column for column in frame.columns}
        missing = [name for name in self.column_names if name not in by_name]
        if missing:
            raise SignatureError(
                f"input is missing column(s) {missing}; the model expects {self.column_names}"
            )
        for field in self.inputs:
            _check_dtype(field, frame[by_name[field.name]].dtype)
        return frame[[by_name[name] for name in self.column_names]]


def infer_signature(model: Any, sample: Any) -> Signature:
    """Build a signature from example input and the model's outputs on it.

    Args:
        model: A fitted model with ``predict`` (and optionally ``predict_proba``).
        sample: Example input rows, as the model takes them.

    Raises:
        ArtifactError: The model cannot predict on ``sample``.
    """
    if is_dataframe(sample):
        inputs = tuple(
            FieldSpec(str(name), dtype_name(dtype), (None,))
            for name, dtype in zip(sample.columns, sample.dtypes, strict=True)
        )
        head = sample.iloc[:5]
    else:
        array = np.asarray(sample)
        inputs = (FieldSpec("input", dtype_name(array.dtype), (None, *array.shape[1:])),)
        head = array[:5]
    return Signature(inputs=inputs, outputs=_infer_outputs(model, head))


def signature_from_estimator(model: Any) -> Signature | None:
    """The inputs a fitted estimator records about itself, for a model saved without data.

    scikit-learn estimators keep the column names they were fitted on
    (``feature_names_in_``) or at least their number (``n_features_in_``). Names
    give one column each, of dtype ``any`` since the estimator does not record types;
    a number alone gives one ``float64`` array of that width. Outputs stay unknown.

    Returns:
        The signature, or None when the estimator tells neither.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) > 0:
        fields = tuple(FieldSpec(str(name), ANY_DTYPE, (None,)) for name in names)
        return Signature(inputs=fields)
    width = getattr(model, "n_features_in_", None)
    if isinstance(width, int | np.integer) and not isinstance(width, bool) and width >= 1:
        return Signature(inputs=(FieldSpec("input", "float64", (None, int(width))),))
    return None


def dtype_name(dtype: Any) -> str:
    """A portable dtype name: NumPy's (``float64``), ``str`` for fixed-width text,
    or pandas' (``category``, ``string``)."""
    if isinstance(dtype, np.dtype) and dtype.kind in "US":
        return "str"
    return str(dtype)


def _infer_outputs(model: Any, head: Any) -> tuple[FieldSpec, ...]:
    try:
        prediction = np.asarray(model.predict(head))
    except Exception as exc:
        raise ArtifactError(
            f"cannot infer the output signature: model.predict failed on the sample: {exc}"
        ) from exc
    outputs = [FieldSpec("prediction", dtype_name(prediction.dtype), (None, *prediction.shape[1:]))]
    if hasattr(model, "predict_proba"):
        try:
            proba = np.asarray(model.predict_proba(head))
        except Exception:  # some estimators expose predict_proba but refuse (e.g. SVC)
            return tuple(outputs)
        shape = (None, *proba.shape[1:])
        outputs.append(FieldSpec("probabilities", dtype_name(proba.dtype), shape))
    return tuple(outputs)


def _check_dtype(field: FieldSpec, actual: Any) -> None:
    if field.dtype == ANY_DTYPE:
        return
    expected_kind = _kind_of_name(field.dtype)
    actual_kind = getattr(actual, "kind", "O")
    if expected_kind in _TEXT_KINDS:
        fits = actual_kind in _TEXT_KINDS
    else:
        fits = actual_kind in _ACCEPTED_KINDS.get(expected_kind, frozenset(expected_kind))
    if not fits:
        raise SignatureError(
            f"input {field.name!r}: expected dtype {field.dtype} (or a compatible one), "
            f"got {dtype_name(actual)}"
        )


def _kind_of_name(name: str) -> str:
    if name in _PANDAS_KINDS:
        return _PANDAS_KINDS[name]
    try:
        return np.dtype(name.lower()).kind
    except TypeError:
        return "O"


def _as_dataframe(X: Any, columns: list[str]) -> Any:
    if is_dataframe(X):
        return X
    if isinstance(X, Mapping):
        pandas = optional_import("pandas", extra="pandas", purpose="named-column input")
        return pandas.DataFrame(dict(X))
    raise SignatureError(
        f"the model expects a pandas DataFrame (or a mapping) with columns {columns}, "
        f"got {type(X).__name__}"
    )


def is_dataframe(value: Any) -> bool:
    """True for a pandas DataFrame (without importing pandas when it is not loaded)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _fields(items: Sequence[Any], what: str) -> tuple[FieldSpec, ...]:
    fields = []
    for item in items:
        try:
            name, dtype, *rest = item
        except (TypeError, ValueError):
            raise ValueError(
                f"Signature.{what}: each field must be (name, dtype[, shape]), got {item!r}"
            ) from None
        shape = tuple(rest[0]) if rest and rest[0] is not None else None
        fields.append(FieldSpec(str(name), str(dtype), shape))
    names = [field.name for field in fields]
    if len(set(names)) != len(names):
        raise ValueError(f"Signature.{what}: field names must be unique, got {names}")
    return tuple(fields)


def _field_to_dict(field: FieldSpec) -> dict[str, Any]:
    shape = list(field.shape) if field.shape is not None else None
    return {"name": field.name, "dtype": field.dtype, "shape": shape}


def _field_from_dict(item: Mapping[str, Any]) -> FieldSpec:
    shape = item.get("shape")
    return FieldSpec(item["name"], item["dtype"], tuple(shape) if shape is not None else None)


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("n" if size is None else str(size) for size in shape) + ")"
