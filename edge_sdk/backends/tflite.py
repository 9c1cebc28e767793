"""The TFLite interpreter backend: ai-edge-litert, else tflite-runtime, else tf.lite.

Tensors are bound by signature name, never by position or tensor-name guesses. The interpreter
is owned by one thread (the inference worker); this class is not thread-safe by design.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from edge_sdk.errors import BackendError, InputError, MissingDependencyError

__all__ = ["BACKEND_ENV", "TFLiteBackend", "TensorBinding", "available_runtimes"]

_log = logging.getLogger(__name__)
BACKEND_ENV = "EDGE_SDK_BACKEND"
# (name, module, attribute); tf.lite is last because importing TensorFlow costs ~1 GB of RSS.
_RUNTIMES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "Interpreter"),
    ("tflite_runtime", "tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow", "tensorflow", "lite.Interpreter"),
)


@dataclass(frozen=True)
class TensorBinding:
    """One signature input or output: where it lives and how it is quantized."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"


def available_runtimes() -> list[str]:
    """Names of the interpreter packages that import here, in preference order."""
    found = []
    for name, module, _ in _RUNTIMES:
        if name == "tensorflow":
            continue  # never import TensorFlow just to list it
        try:
            importlib.import_module(module)
            found.append(name)
        except ImportError:
            pass
    return found


def _interpreter_class(preferred: str | None) -> tuple[str, Any]:
    preferred = preferred or os.environ.get(BACKEND_ENV) or None
    names = [r[0] for r in _RUNTIMES]
    if preferred is not None and preferred not in names:
        raise BackendError(f"unknown TFLite runtime {preferred!r}. Expected one of {names}")
    errors = []
    for name, module, attribute in _RUNTIMES:
        if preferred is not None and name != preferred:
            continue
        try:
            obj: Any = importlib.import_module(module)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        for part in attribute.split("."):
            obj = getattr(obj, part)
        return name, obj
    raise MissingDependencyError(
        "no TFLite interpreter can be imported (" + "; ".join(errors) + "). "
        "Install one with: pip install 'edge-fusion-sdk[device]' (ai-edge-litert), or tflite-runtime with numpy<2"
    )


class TFLiteBackend:
    """Runs a TFLite flatbuffer through its first signature: ``infer({name: array}) -> {name: array}``."""

    def __init__(self, flatbuffer: bytes, num_threads: int | None = None, runtime: str | None = None) -> None:
        self.runtime, interpreter_class = _interpreter_class(runtime)
        try:
            self._interpreter = interpreter_class(model_content=flatbuffer, num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            message = str(exc)
            if "custom op" in message.lower() or "select tensorflow op" in message.lower() or "flex" in message.lower():
                raise BackendError(
                    f"the model needs ops that {self.runtime} does not have (custom or Select TF ops): {message.strip()}"
                ) from exc
            raise BackendError(f"{self.runtime} cannot load the model: {message.strip()}") from exc
        _log.info("loaded model with %s (num_threads=%s)", self.runtime, num_threads)
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            raise BackendError("the model has no signature: inputs cannot be bound by name. Re-convert it with one")
        self.signature_key = next(iter(signatures))
        runner = self._interpreter.get_signature_runner(self.signature_key)
        self.inputs = {name: _binding(name, d) for name, d in runner.get_input_details().items()}
        self.outputs = {name: _binding(name, d) for name, d in runner.get_output_details().items()}
        self._closed = False

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set every input by name, invoke, and return the raw output tensors (no dequantization)."""
        interpreter = self._interpreter
        for name, binding in self.inputs.items():
            try:
                value = inputs[name]
            except KeyError:
                raise InputError(f"missing model input {name!r}. Expected: {sorted(self.inputs)}. Got: {sorted(inputs)}") from None
            try:
                interpreter.set_tensor(binding.index, value)
            except ValueError as exc:
                raise InputError(
                    f"input {name!r} must be {binding.dtype} of shape {binding.shape}. "
                    f"Got: {getattr(value, 'dtype', type(value).__name__)} of shape {getattr(value, 'shape', '?')}"
                ) from exc
        try:
            interpreter.invoke()
        except RuntimeError as exc:
            raise BackendError(f"{self.runtime} failed to run the model: {exc}") from exc
        return {name: interpreter.get_tensor(binding.index) for name, binding in self.outputs.items()}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._interpreter = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _binding(name: str, details: Mapping[str, Any]) -> TensorBinding:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return TensorBinding(
        name=name,
        index=int(details["index"]),
        shape=tuple(int(x) for x in details["shape"]),
        dtype=np.dtype(details["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )
