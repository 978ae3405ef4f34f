"""Saving and loading self-describing, checksummed model artifacts.

An artifact is a directory::

    model.skops        the model (or model.pkl when saved with format="pickle", or
                       model.safetensors, weights of a tunelab.torch network whose
                       architecture spec is in the card)
    model.onnx         optional, verified against the model at save time
    model.int8.onnx    optional, dynamically quantised
    card.json          the model card
    checksums.sha256   SHA-256 of every other file (sha256sum format)

Loading verifies every checksum before reading anything else, and decides which
types skops may build from tunelab's own allow-list plus the caller's ``trusted``,
never from the artifact.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tunelab._validation import is_int
from tunelab.deploy._card import (
    CARD_FILE,
    ModelCard,
    library_versions,
    normalize_metrics,
    to_jsonable,
    utc_now,
)
from tunelab.deploy._checksums import verify_checksums, write_checksums
from tunelab.deploy._errors import (
    ArtifactError,
    ConversionError,
    ModelStructureError,
    SignatureError,
)
from tunelab.deploy._fingerprint import data_fingerprint
from tunelab.deploy._onnx import ONNX_LIBRARIES, OnnxConversion, OnnxRunner, model_task, to_onnx
from tunelab.deploy._signature import (
    Signature,
    _check_dtype,
    infer_signature,
    is_dataframe,
    signature_from_estimator,
)
from tunelab.deploy._structure import StructureError, check_structure
from tunelab.deploy._torch import (
    TORCH_FORMAT,
    TORCH_LIBRARIES,
    is_torch_model,
    load_torch_model,
    prepare_for_save,
    write_torch_model,
)
from tunelab.deploy._trust import trusted_types
from tunelab.logging import get_logger

_logger = get_logger(__name__)

ModelFormat = Literal["skops", "pickle", "safetensors"]
Backend = Literal["auto", "sklearn", "onnx", "onnx-int8"]
_MODEL_FILES = {"skops": "model.skops", "pickle": "model.pkl", TORCH_FORMAT: "model.safetensors"}
_SKLEARN_FORMATS = ("skops", "pickle")
_ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
_BACKENDS = ("auto", "sklearn", "onnx", "onnx-int8")
_SAMPLE_ROWS = 200


class LoadedModel:
    """A model loaded from a verified artifact, checking inputs against its signature.

    Attributes:
        model: The deserialised model object.
        card: The artifact's model card.
        path: The artifact directory.
        backend: ``sklearn``, ``onnx`` or ``onnx-int8``: what :meth:`predict` runs.
    """

    def __init__(
        self, *, model: Any, card: ModelCard, path: Path, runner: OnnxRunner | None, backend: str
    ) -> None:
        self.model = model
        self.card = card
        self.path = path
        self.backend = backend
        self._runner = runner
        # Artifacts saved without data still say what the estimator itself records.
        self._signature = card.signature or signature_from_estimator(model)

    @property
    def signature(self) -> Signature | None:
        """Inputs and outputs recorded at save time, else the inputs the estimator records.

        The fallback reads ``feature_names_in_`` or ``n_features_in_``; None when the
        inputs are unknown.
        """
        return self._signature

    @property
    def runner(self) -> OnnxRunner | None:
        """The ONNX Runtime session that answers, or None for the model itself."""
        return self._runner

    def validate(self, X: Any) -> Any:
        """``X`` checked against the signature, columns in the order the model expects.

        Raises:
            SignatureError: A column is missing or a dtype or shape does not fit.
        """
        return X if self.signature is None else self.signature.validate(X)

    def predict(self, X: Any) -> Any:
        """Predictions for ``X`` from the selected backend, after validation."""
        checked = self.prepare(X)
        if self._runner is not None:
            return self._runner.predict(checked)
        return self.model.predict(checked)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities for ``X``, after validation.

        Raises:
            AttributeError: The model has no ``predict_proba``.
        """
        if not hasattr(self.model, "predict_proba"):
            raise AttributeError(f"{type(self.model).__name__} has no predict_proba")
        checked = self.prepare(X)
        if self._runner is not None:
            return self._runner.predict_proba(checked)
        return self.model.predict_proba(checked)

    def predict_outputs(
        self, X: Any, outputs: Sequence[str], *, prepared: bool = False
    ) -> dict[str, Any]:
        """Several outputs ("predict", "predict_proba") with one validation of ``X``.

        The ONNX backend computes labels and probabilities in one run of its graph.
        ``prepared=True`` says ``X`` comes from :meth:`prepare` (so only the model runs,
        as when a server times the model call alone).

        Raises:
            SignatureError: ``X`` does not fit the signature.
            AttributeError: "predict_proba" was asked of a model without it.
        """
        unknown = set(outputs) - {"predict", "predict_proba"}
        if unknown:
            raise ValueError(f"unknown outputs {sorted(unknown)}: use predict, predict_proba")
        if "predict_proba" in outputs and not hasattr(self.model, "predict_proba"):
            raise AttributeError(f"{type(self.model).__name__} has no predict_proba")
        checked = X if prepared else self.prepare(X)
        if self._runner is not None:
            labels, proba = self._runner.predict_both(checked)
            both = {"predict": labels, "predict_proba": proba}
            return {name: both[name] for name in outputs}
        return {name: getattr(self.model, name)(checked) for name in outputs}

    def prepare(self, X: Any) -> Any:
        """``X`` checked (see :meth:`validate`) and in the form the backend takes.

        Raises:
            SignatureError: ``X`` does not fit the signature.
        """
        matrix = self._column_matrix(X)
        return matrix if matrix is not None else self.validate(X)

    def _column_matrix(self, X: Any) -> np.ndarray | None:
        """A mapping of numeric columns stacked for an ONNX graph that takes one matrix.

        Building a DataFrame for one row costs about fifty times what the graph does,
        so a mapping whose columns all fit the signature skips it. Anything else gives
        None, and :meth:`validate` then builds the DataFrame or names what is wrong.
        """
        signature = self.signature
        runner = self._runner
        if (
            runner is None
            or runner.input_mode != "matrix"
            or signature is None
            or signature.is_tensor
            or not isinstance(X, Mapping)
        ):
            return None
        try:
            columns = [np.asarray(X[field.name]) for field in signature.inputs]
        except KeyError:
            return None
        if len({column.shape for column in columns}) != 1 or columns[0].ndim != 1:
            return None
        # The check looks at dtype kinds only: once per distinct pair, as columns mostly
        # share one dtype.
        pairs = {
            (field.dtype, column.dtype.kind): (field, column.dtype)
            for field, column in zip(signature.inputs, columns, strict=True)
        }
        try:
            for field, dtype in pairs.values():
                if dtype.kind not in "biuf":
                    return None
                _check_dtype(field, dtype)
        except SignatureError:
            return None
        dtype = np.result_type(*{dtype for _, dtype in pairs.values()})
        matrix = np.empty((len(columns[0]), len(columns)), dtype=dtype)
        for position, column in enumerate(columns):
            matrix[:, position] = column
        return matrix

    def __repr__(self) -> str:
        kind = self.card.model.get("type")
        return f"LoadedModel({kind}, path={str(self.path)!r}, backend={self.backend!r})"


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    study: Any = None,
    trial: Any = None,
    data: Any = None,
    signature: Signature | None = None,
    onnx: bool | OnnxConversion = False,
    sample: Any = None,
    format: ModelFormat = "skops",
    explanation: Any = None,
    deployment: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as an artifact directory at ``path``.

    Args:
        model: A fitted model (scikit-learn style for skops and ONNX), or a
            :mod:`tunelab.torch` network or estimator (saved as safetensors).
        path: Directory to create; it must not exist or be empty.
        metrics: Metric name to a number or ``{"value", "low", "high", "level", "std"}``.
        params: Hyperparameters (JSON-serialisable); defaults to ``trial.params``.
        study: A study name or an object with ``study_name``.
        trial: A trial number or an object with ``number`` (and ``params``).
        data: Training data ``X`` or ``(X, y)``, fingerprinted in full.
        signature: Inputs/outputs; inferred from ``sample`` (or ``data``) when omitted,
            else from what the fitted estimator records (``feature_names_in_`` or
            ``n_features_in_``).
        onnx: ``True`` to convert with :func:`to_onnx` (a failure is recorded in the
            card and the artifact is still written), or a ready
            :class:`OnnxConversion` (e.g. with int8 quantisation).
        sample: Example input rows for signature inference and the ONNX check;
            defaults to the first rows of ``data``.
        format: ``skops`` (safe; default) or ``pickle`` for models skops cannot
            handle. Pickle artifacts load only with ``allow_pickle=True``. PyTorch
            models are always saved as ``safetensors``.
        explanation: A :class:`tunelab.evaluation.Explanation` (or its ``to_dict()``
            form) to keep in the card, so the registry and the server show it.
        deployment: How the model was chosen and measured for deployment (see
            :attr:`ModelCard.deployment`); its ``precision`` (``float32`` or ``int8``)
            is what ``backend="auto"`` loads when the ONNX models are present.

    Returns:
        The artifact directory.

    Raises:
        ArtifactError: ``path`` is taken, or the model cannot be serialised (e.g. a
            PyTorch module tunelab did not build).
        ValueError: Bad metrics, params, study, trial or format.
    """
    if is_torch_model(model):
        model, format = prepare_for_save(model, format)
    elif format not in _SKLEARN_FORMATS:
        raise ValueError(f"format must be one of {list(_SKLEARN_FORMATS)}, got {format!r}")
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ArtifactError(f"{target} already exists and is not an empty directory")
    X, y = _split_data(data)
    if sample is None and X is not None:
        sample = _head(X, _SAMPLE_ROWS)
    if signature is None and sample is not None:
        signature = infer_signature(model, sample)
    if signature is None:
        signature = signature_from_estimator(model)
    card = ModelCard(
        created=utc_now(),
        model=_describe_model(model, format),
        metrics=normalize_metrics(metrics),
        params=to_jsonable(_params(params, trial), "params"),
        study=_study_name(study),
        trial=_trial_number(trial),
        data=data_fingerprint(X, y) if X is not None else None,
        signature=signature,
        explanation=_explanation(explanation),
        deployment=None if deployment is None else to_jsonable(dict(deployment), "deployment"),
    )
    conversion = _conversion(model, onnx, sample)
    return _write(target, model, format, card, conversion)


def _explanation(explanation: Any) -> dict[str, Any] | None:
    if explanation is None:
        return None
    raw = explanation.to_dict() if hasattr(explanation, "to_dict") else explanation
    if not isinstance(raw, Mapping):
        raise ValueError(
            "explanation must be a tunelab.evaluation.Explanation or its to_dict() mapping, "
            f"got {type(explanation).__name__}"
        )
    return dict(to_jsonable(dict(raw), "explanation"))


def load_model(
    path: str | os.PathLike[str],
    *,
    trusted: Sequence[str] | None = None,
    allow_pickle: bool = False,
    backend: Backend = "auto",
) -> LoadedModel:
    """Verify and load an artifact written by :func:`save_model`.

    Args:
        path: The artifact directory.
        trusted: Extra fully qualified type names skops may build (review them
            first: a type named here can run code when loaded).
        allow_pickle: Allow loading a pickle artifact. Unpickling runs arbitrary code:
            only for artifacts from a source you trust.
        backend: ``auto`` (ONNX when the artifact has a verified ONNX model and
            onnxruntime is installed, the int8 one when the card's deployment chose
            int8, else the model itself), ``sklearn``, ``onnx`` or ``onnx-int8``.

    Raises:
        ArtifactError: A file is missing, extra, modified or truncated (named in the
            message); the model holds untrusted types (listed); it is a pickle and
            ``allow_pickle`` is False; or the requested ONNX backend is absent.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
    directory = Path(path)
    verify_checksums(directory)
    card = _read_card(directory)
    extra_trusted = list(trusted or ())
    model = _load_model_file(directory, card, trusted=extra_trusted, allow_pickle=allow_pickle)
    _warn_on_version_drift(card)
    chosen, runner = _select_backend(directory, card, backend)
    return LoadedModel(model=model, card=card, path=directory, runner=runner, backend=chosen)


def _split_data(data: Any) -> tuple[Any, Any]:
    if data is None:
        return None, None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data must be X or a pair (X, y), got a tuple of {len(data)}")
        return data
    return data, None


def _head(X: Any, n_rows: int) -> Any:
    if is_dataframe(X):
        return X.iloc[:n_rows]
    return X[:n_rows]


def _describe_model(model: Any, format: str) -> dict[str, Any]:
    description: dict[str, Any] = {
        "file": _MODEL_FILES[format],
        "format": format,
        "type": f"{type(model).__module__}.{type(model).__qualname__}",
        "task": model_task(model),
    }
    classes = getattr(model, "classes_", None)
    if classes is not None:
        description["classes"] = to_jsonable(list(classes), "model.classes_")
    return description


def _params(params: dict[str, Any] | None, trial: Any) -> dict[str, Any]:
    if params is not None:
        return dict(params)
    return dict(getattr(trial, "params", None) or {})


def _study_name(study: Any) -> str | None:
    if study is None or isinstance(study, str):
        return study
    name = getattr(study, "study_name", None)
    if not isinstance(name, str):
        raise ValueError(f"study must be a name or have a 'study_name', got {type(study).__name__}")
    return name


def _trial_number(trial: Any) -> int | None:
    if trial is None:
        return None
    number = trial if isinstance(trial, int) else getattr(trial, "number", None)
    if not is_int(number):
        raise ValueError(f"trial must be a number or have a 'number', got {type(trial).__name__}")
    return number


def _conversion(
    model: Any, onnx: bool | OnnxConversion, sample: Any
) -> OnnxConversion | str | None:
    """The conversion to store, a reason why there is none, or None if not asked."""
    if isinstance(onnx, OnnxConversion):
        return onnx
    if not onnx:
        return None
    if sample is None:
        return "no sample or data was given to check the conversion against"
    try:
        return to_onnx(model, sample)
    except (ConversionError, ImportError) as exc:
        _logger.warning("saving without ONNX: %s", exc)
        return str(exc)


def _write(
    target: Path, model: Any, format: str, card: ModelCard, conversion: OnnxConversion | str | None
) -> Path:
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        _write_model_file(staging / _MODEL_FILES[format], model, format, card)
        card.onnx = _write_onnx(staging, conversion)
        extra = ONNX_LIBRARIES if card.onnx["status"] == "ok" else ()
        if format == TORCH_FORMAT:
            extra = (*extra, *TORCH_LIBRARIES)
        card.libraries = library_versions(extra)
        (staging / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        write_checksums(staging)
        # Publishing by rename means a reader never sees a half-written artifact.
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _write_model_file(file: Path, model: Any, format: str, card: ModelCard) -> None:
    if format == TORCH_FORMAT:
        write_torch_model(file, model, card)
        return
    if format == "pickle":
        try:
            with file.open("wb") as handle:
                pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"pickle cannot serialise {type(model).__name__}: {exc}") from exc
        return
    import skops.io

    try:
        skops.io.dump(model, file)
    except Exception as exc:
        raise ArtifactError(
            f"skops cannot serialise {type(model).__name__}: {exc}. Save it with "
            "format='pickle' (loading then needs allow_pickle=True)"
        ) from exc
    untrusted = sorted(set(skops.io.get_untrusted_types(file=file)) - set(trusted_types()))
    if untrusted:
        card.model["untrusted_types"] = untrusted
        _logger.warning("loading this artifact will need trusted=%s", untrusted)


def _write_onnx(staging: Path, conversion: OnnxConversion | str | None) -> dict[str, Any]:
    if conversion is None:
        return {"status": "absent"}
    if isinstance(conversion, str):
        return {"status": "failed", "error": conversion}
    section = conversion.to_card()
    (staging / _ONNX_FILES["onnx"]).write_bytes(conversion.model_bytes)
    section["file"] = _ONNX_FILES["onnx"]
    if conversion.quantization is not None:
        (staging / _ONNX_FILES["onnx-int8"]).write_bytes(conversion.quantization.model_bytes)
        section["int8_file"] = _ONNX_FILES["onnx-int8"]
    return section


def _read_card(directory: Path) -> ModelCard:
    try:
        data = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"artifact {directory}: {CARD_FILE} is unreadable: {exc}") from exc
    try:
        return ModelCard.from_dict(data)
    except ArtifactError as exc:
        raise ArtifactError(f"artifact {directory}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"artifact {directory}: {CARD_FILE} is malformed: {exc!r}") from exc


def _load_model_file(
    directory: Path, card: ModelCard, *, trusted: list[str], allow_pickle: bool
) -> Any:
    format = card.model.get("format")
    if format not in _MODEL_FILES:
        raise ArtifactError(f"artifact {directory}: unknown model format {format!r}")
    file = directory / _MODEL_FILES[format]
    if not file.is_file():
        raise ArtifactError(f"artifact {directory}: {file.name} is missing")
    if format == TORCH_FORMAT:
        return load_torch_model(file, card)
    if format == "pickle":
        if not allow_pickle:
            raise ArtifactError(
                f"artifact {directory} holds a pickle ({file.name}); unpickling runs "
                "arbitrary code, so it loads only with allow_pickle=True for a source you trust"
            )
        model = _load_pickle(file)
    else:
        model = _load_skops(file, trusted)
    try:
        check_structure(model)
    except StructureError as exc:
        raise ModelStructureError(
            f"{file} holds a malformed model, refused before it could predict: {exc}"
        ) from None
    return model


def _load_pickle(file: Path) -> Any:
    if zipfile.is_zipfile(file):
        raise ArtifactError(
            f"{file} is a zip archive (a skops file?), not a pickle: the file does not match "
            "the format its card names"
        )
    try:
        with file.open("rb") as handle:
            return pickle.load(handle)
    except Exception as exc:
        raise ArtifactError(f"{file} could not be unpickled: {exc!r}") from exc


def _load_skops(file: Path, trusted: list[str]) -> Any:
    import skops.io

    if not zipfile.is_zipfile(file):
        looks_like = " (it looks like a pickle)" if _starts_like_pickle(file) else ""
        raise ArtifactError(
            f"{file} is not a skops file: skops files are zip archives and this one is "
            f"not{looks_like}. Was another file renamed to {file.name}?"
        )
    allowed = [*trusted_types(), *trusted]
    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=file)) - set(allowed))
    except Exception as exc:
        raise ArtifactError(f"{file} is not a readable skops file: {exc!r}") from exc
    if untrusted:
        raise ArtifactError(
            f"{file} contains types tunelab does not trust: {untrusted}. If you trust the "
            "source and have reviewed them, pass trusted=[...] with these names"
        )
    try:
        return skops.io.load(file, trusted=allowed)
    except Exception as exc:
        raise ArtifactError(f"{file} could not be loaded: {exc!r}") from exc


def _starts_like_pickle(file: Path) -> bool:
    with file.open("rb") as handle:
        head = handle.read(2)
    # Pickle protocol 2 and later open with the PROTO opcode and the protocol number.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL


def _warn_on_version_drift(card: ModelCard) -> None:
    now = library_versions()
    for name in ("scikit-learn", "numpy", "torch"):
        saved, current = card.libraries.get(name), now.get(name)
        if saved and current and saved != current:
            _logger.warning(
                "model saved with %s %s, running %s %s; predictions may differ",
                name,
                saved,
                name,
                current,
            )


def _select_backend(
    directory: Path, card: ModelCard, backend: str
) -> tuple[str, OnnxRunner | None]:
    if backend == "sklearn":
        return "sklearn", None
    wanted = _auto_backend(card) if backend == "auto" else backend
    file_key = "file" if wanted == "onnx" else "int8_file"
    file_name = card.onnx.get(file_key) if card.onnx.get("status") == "ok" else None
    if not isinstance(file_name, str) or file_name not in _ONNX_FILES.values():
        if backend == "auto":
            return "sklearn", None
        raise ArtifactError(
            f"artifact {directory} has no {wanted} model (onnx status: "
            f"{card.onnx.get('status')!r}{_reason(card)})"
        )
    try:
        runner = OnnxRunner(
            (directory / file_name).read_bytes(),
            task=card.onnx["task"],
            input_mode=card.onnx["input_mode"],
        )
    except ImportError:
        if backend == "auto":
            return "sklearn", None
        raise
    return wanted, runner


def _auto_backend(card: ModelCard) -> str:
    """The ONNX model to serve by default: the one the deployment was tuned and picked at."""
    precision = (card.deployment or {}).get("precision")
    return "onnx-int8" if precision == "int8" and card.onnx.get("int8_file") else "onnx"


def _reason(card: ModelCard) -> str:
    error = card.onnx.get("error")
    return f", {error}" if error else ""
