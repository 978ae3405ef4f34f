"""The model card: a JSON description that travels with every artifact."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from tunelab._validation import is_real
from tunelab.deploy._errors import ArtifactError
from tunelab.deploy._signature import Signature

CARD_FILE = "card.json"
FORMAT_NAME = "tunelab-artifact"
FORMAT_VERSION = 1

_CORE_LIBRARIES = ("tunelab", "scikit-learn", "numpy", "scipy", "skops")
_METRIC_KEYS = ("value", "low", "high", "level", "std")
_METRIC_ALIASES = {"ci_low": "low", "ci_high": "high", "confidence": "level"}


@dataclass
class ModelCard:
    """What an artifact says about its model.

    Attributes:
        created: Creation time, ISO-8601 in UTC.
        model: ``file``, ``format`` (``skops``, ``safetensors`` or ``pickle``), ``type``
            (qualified class name), ``task`` (``classification``, ``regression`` or
            ``other``), for classifiers ``classes``, and for PyTorch models built by
            :mod:`tunelab.torch` the ``architecture`` spec and ``estimator_params``.
        metrics: Metric name to ``{"value": ..., "low"/"high"/"level"/"std": ...}``.
        params: Hyperparameters that produced the model.
        study: Name of the study the model came from, if any.
        trial: Number of the trial within that study, if any.
        data: Fingerprint of the training data (see :func:`data_fingerprint`), if given.
        signature: Inputs and outputs, if known.
        libraries: Package name to version at save time (``python`` included).
        onnx: ONNX status: ``{"status": "absent" | "ok" | "failed", ...}`` with the
            file, parity, latency table and quantisation report, or the failure reason.
        format_version: Version of the artifact layout.
        explanation: What the model relies on, measured on held-out data (the form of
            :meth:`tunelab.evaluation.Explanation.to_dict`), if given. Cards without
            one are written and read as before.
        deployment: How the model was picked for deployment and what it costs, if
            registered from a deployment-aware study: ``tuned`` (the trial's
            measurement), ``refit`` (the refitted model's), ``precision``
            (``float32`` or ``int8``) and ``pick`` (``rule``, ``by``, ``trial``).
    """

    created: str
    model: dict[str, Any]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    study: str | None = None
    trial: int | None = None
    data: dict[str, Any] | None = None
    signature: Signature | None = None
    libraries: dict[str, str] = field(default_factory=dict)
    onnx: dict[str, Any] = field(default_factory=lambda: {"status": "absent"})
    format_version: int = FORMAT_VERSION
    explanation: dict[str, Any] | None = None
    deployment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "created": self.created,
            "model": self.model,
            "metrics": self.metrics,
            "params": self.params,
            "study": self.study,
            "trial": self.trial,
            "data": self.data,
            "signature": self.signature.to_dict() if self.signature else None,
            "libraries": self.libraries,
            "onnx": self.onnx,
        }
        if self.explanation is not None:
            out["explanation"] = self.explanation
        if self.deployment is not None:
            out["deployment"] = self.deployment
        return out

    def to_json(self) -> str:
        """Pretty, key-sorted JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Read a card written by :meth:`to_dict`.

        Raises:
            ArtifactError: Not a tunelab card, or one from a newer format version.
        """
        if data.get("format") != FORMAT_NAME:
            raise ArtifactError(f"{CARD_FILE} is not a tunelab model card")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ArtifactError(
                f"{CARD_FILE} has format_version {version!r}; this tunelab reads "
                f"versions up to {FORMAT_VERSION} (upgrade tunelab)"
            )
        signature = data.get("signature")
        return cls(
            created=data["created"],
            model=dict(data["model"]),
            metrics=dict(data.get("metrics") or {}),
            params=dict(data.get("params") or {}),
            study=data.get("study"),
            trial=data.get("trial"),
            data=data.get("data"),
            signature=Signature.from_dict(signature) if signature else None,
            libraries=dict(data.get("libraries") or {}),
            onnx=dict(data.get("onnx") or {"status": "absent"}),
            format_version=version,
            explanation=dict(data["explanation"]) if data.get("explanation") else None,
            deployment=dict(data["deployment"]) if data.get("deployment") else None,
        )


def utc_now() -> str:
    """The current time as ISO-8601 UTC with microseconds, e.g. ``2024-05-01T12:00:00.000001Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def normalize_metrics(metrics: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """Turn ``{"f1": 0.8, "auc": {"value": 0.9, "low": 0.85, "high": 0.94}}`` into
    ``{"f1": {"value": 0.8}, "auc": {...}}``.

    Raises:
        ValueError: A metric is not a finite number or a mapping with a ``value``
            and only the keys value, low, high, level, std (or ci_low, ci_high,
            confidence), or its interval is reversed.
    """
    normalized: dict[str, dict[str, float]] = {}
    for name, raw in (metrics or {}).items():
        entry = _metric_entry(str(name), raw)
        if "low" in entry and "high" in entry and entry["low"] > entry["high"]:
            raise ValueError(f"metrics[{name!r}]: low {entry['low']} is above high {entry['high']}")
        normalized[str(name)] = entry
    return normalized


def _metric_entry(name: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        return {"value": _finite(raw, f"metrics[{name!r}]")}
    entry = {}
    for key, value in raw.items():
        canonical = _METRIC_ALIASES.get(key, key)
        if canonical not in _METRIC_KEYS:
            raise ValueError(
                f"metrics[{name!r}]: unknown key {key!r}; accepted keys are "
                f"{[*_METRIC_KEYS, *_METRIC_ALIASES]}"
            )
        entry[canonical] = _finite(value, f"metrics[{name!r}][{key!r}]")
    if "value" not in entry:
        raise ValueError(f"metrics[{name!r}]: a mapping must hold a 'value'")
    return entry


def _finite(value: Any, what: str) -> float:
    if not is_real(value):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what}: expected a finite number, got {number}")
    return number


def to_jsonable(value: Any, what: str) -> Any:
    """``value`` with NumPy scalars/arrays and tuples turned into JSON types.

    Raises:
        ValueError: Something in ``value`` has no JSON form; ``what`` names the field.
    """

    def convert(item: Any) -> Any:
        if isinstance(item, np.generic | np.ndarray):
            return item.tolist()
        raise TypeError(f"{type(item).__name__} {item!r}")

    try:
        return json.loads(json.dumps(value, default=convert))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None


def library_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Installed versions of the libraries an artifact depends on, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in (*_CORE_LIBRARIES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
