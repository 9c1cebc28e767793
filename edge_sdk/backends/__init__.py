"""Inference backends behind a narrow interface: ``infer(inputs) -> outputs`` and ``close()``."""

from edge_sdk.backends.flatbuffer import check_flatbuffer
from edge_sdk.backends.signatures import ModelDescription, SignatureDescription
from edge_sdk.backends.tflite import TensorBinding, TFLiteBackend, TFLiteRunner, available_runtimes, describe_model

__all__ = [
    "ModelDescription",
    "SignatureDescription",
    "TFLiteBackend",
    "TFLiteRunner",
    "TensorBinding",
    "available_runtimes",
    "check_flatbuffer",
    "describe_model",
]
