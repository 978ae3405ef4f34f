"""Errors raised by the deploy layer."""

from __future__ import annotations

from tunelab.exceptions import TunelabError


class ArtifactError(TunelabError):
    """An artifact is missing, tampered with, unsafe to load or cannot be written."""


class SignatureError(TunelabError, ValueError):
    """Input data does not match the signature recorded with the model."""


class ConversionError(TunelabError):
    """A model could not be converted to ONNX, or the conversion is not faithful."""


class RegistryError(TunelabError):
    """A registry operation failed: unknown name, version or alias, or a bad reference."""
