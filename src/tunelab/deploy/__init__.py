"""Deployment: safe self-describing artifacts, ONNX conversion, a versioned registry."""

from tunelab.deploy._artifact import LoadedModel, load_model, save_model
from tunelab.deploy._batch import ScoringReport, predict_file
from tunelab.deploy._card import ModelCard
from tunelab.deploy._checksums import verify_checksums
from tunelab.deploy._errors import (
    ArtifactError,
    ConversionError,
    ModelStructureError,
    RegistryError,
    SignatureError,
)
from tunelab.deploy._fingerprint import data_fingerprint
from tunelab.deploy._measure import DeploymentMeasurement, measure
from tunelab.deploy._onnx import OnnxConversion, QuantizationReport, to_onnx
from tunelab.deploy._registry import AliasMove, Registry
from tunelab.deploy._signature import FieldSpec, Signature, infer_signature

__all__ = [
    "AliasMove",
    "ArtifactError",
    "ConversionError",
    "DeploymentMeasurement",
    "FieldSpec",
    "LoadedModel",
    "ModelCard",
    "ModelStructureError",
    "OnnxConversion",
    "QuantizationReport",
    "Registry",
    "RegistryError",
    "ScoringReport",
    "Signature",
    "SignatureError",
    "data_fingerprint",
    "infer_signature",
    "load_model",
    "measure",
    "predict_file",
    "save_model",
    "to_onnx",
    "verify_checksums",
]
