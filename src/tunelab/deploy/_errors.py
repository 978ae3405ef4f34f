"""Errors raised by the deploy layer."""

from __future__ import annotations

from tunelab.exceptions import TunelabError


class ArtifactError(TunelabError):
    """An artifact is missing, tampered with, unsafe to load or cannot be written."""


class ModelStructureError(ArtifactError):
    """A model file's arrays describe a broken structure, so it is refused at load time.

    For example a tree node pointing outside its tree or back to an ancestor, or a
    feature index past the model's inputs: predicting with it could crash the process
    or never return.
    """


class SignatureError(TunelabError, ValueError):
    """Input data does not match the signature recorded with the model."""


class ConversionError(TunelabError):
    """A model could not be converted to ONNX, or the conversion is not faithful."""


class RegistryError(TunelabError):
    """A registry operation failed: unknown name, version or alias, or a bad reference."""
