"""Inference backends behind a narrow interface: ``infer(inputs) -> outputs`` and ``close()``."""

from edge_sdk.backends.tflite import TensorBinding, TFLiteBackend, available_runtimes

__all__ = ["TFLiteBackend", "TensorBinding", "available_runtimes"]
