"""Model bundles: one ``.tflite`` file that carries its own tensor contract."""

from edge_sdk.bundle.io import Bundle, read_bundle, write_bundle
from edge_sdk.bundle.manifest import (
    SCHEMA,
    GoldenCase,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputSpec,
    Quantization,
    SignatureSpec,
)

__all__ = [
    "SCHEMA",
    "Bundle",
    "GoldenCase",
    "InputSpec",
    "Manifest",
    "ModelInfo",
    "OutputSpec",
    "Quantization",
    "SignatureSpec",
    "read_bundle",
    "write_bundle",
]
