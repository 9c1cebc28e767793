"""A model ready to run: bundle + interpreter + the bundle's own preprocessing + its task.

    with Model.from_bundle("seek_int8.tflite") as model:
        prediction = model.predict(image=frame_bgr, text="find the red circle", sensor={"distance_cm": 80})
        if prediction.label == "left" and prediction.confidence > 0.8:
            turn_left()

The tensor contract comes from the manifest: each input is prepared by its role's spec, quantized
with the tensor's own scale and zero point, and bound by name (a model with several signatures
serves one of them, chosen by key). The outputs are dequantized and decoded by the signature's
task (:mod:`edge_sdk.tasks`) into a typed :attr:`Prediction.result`; coordinates are mapped back to
the frame through the image preprocessing's transform. Loading re-runs the bundle's golden vectors
on an interpreter of their own and refuses a model that fails them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

import numpy as np

from edge_sdk.backends.tflite import TensorBinding, TFLiteBackend
from edge_sdk.bundle import Bundle, InputSpec, Manifest, SignatureSpec, read_bundle
from edge_sdk.bundle.tasking import task_spec
from edge_sdk.errors import BundleError, InputError
from edge_sdk.preprocess import (
    SensorSpec,
    TensorSpec,
    Tokenizer,
    TokenizerSpec,
    prepare_tensor,
    scale_sensor,
)
from edge_sdk.preprocess.geometry import FrameTransform
from edge_sdk.preprocess.image import ColorOrder
from edge_sdk.preprocess.image_tensor import ImageTensorMaker, quantize
from edge_sdk.tasks.base import TaskResult, make_decoder

__all__ = ["FusionModel", "Model", "Prediction", "PreparedImage"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One inference: the typed task ``result``, and for classifiers its best ``label`` and ``confidence``
    (None and NaN for other tasks); ``outputs`` are the dequantized tensors by name."""

    label: str | None
    confidence: float
    scores: Mapping[str, float]
    outputs: Mapping[str, np.ndarray]
    result: TaskResult | None = None


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image input made ahead of :meth:`FusionModel.prepare`: the tensor (batch of 1), where its pixels
    came from (for decode), the model that made it, and how long that took."""

    tensor: np.ndarray
    to_source: FrameTransform
    model: FusionModel
    ms: float


class FusionModel:
    """Runs one signature of a bundle. Owned by one thread: the interpreter is not thread-safe."""

    def __init__(self, bundle: Bundle, backend: TFLiteBackend, verify_golden: bool = True,
                 signature: str | None = None) -> None:
        self.bundle = bundle
        self.manifest: Manifest = bundle.manifest
        self.signature: SignatureSpec = self.manifest.signature(signature) if signature else self.manifest.primary
        self.backend = backend
        _check_contract(self.signature, backend)
        self._image_input = self.signature.input("image")
        self._text_input = self.signature.input("text")
        self._sensor_input = self.signature.input("sensor")
        self._tensor_inputs = tuple(spec for spec in self.signature.inputs if spec.role == "tensor")
        self._tokenizer = Tokenizer(self._text_input.preprocess) if self._text_input else None  # type: ignore[arg-type]
        self.task = task_spec(self.signature)
        self._decoder = make_decoder(self.task)
        self._labels = self.task.labels if self.task.kind == "classify" else ()
        self._to_source: FrameTransform | None = None  # of the last prepared image, for decode
        self.image_tensor_maker: ImageTensorMaker | None = None  # None: no image input
        if self._image_input is not None:
            binding = backend.inputs[self._image_input.name]
            self.image_tensor_maker = ImageTensorMaker(self._image_input.preprocess,  # type: ignore[arg-type]
                                                       binding.dtype, binding.scale, binding.zero_point)
        # a command and a reading change at their own rate, not the camera's: their tensors are made once per value
        self._text_tensor, self._sensor_tensor = _LastTensor(), _LastTensor()
        self._closed = False
        if verify_golden:
            self.verify_golden()

    @classmethod
    def from_bundle(
        cls,
        source: str | Path | bytes | Bundle,
        num_threads: int | None = None,
        runtime: str | None = None,
        verify_golden: bool = True,
        signature: str | None = None,
        xnnpack: bool | None = None,
    ) -> FusionModel:
        """Load ``source`` and serve ``signature`` (default: the bundle's first); ``xnnpack`` None: the
        runtime's default delegate choice."""
        bundle = source if isinstance(source, Bundle) else read_bundle(source)
        key = bundle.manifest.signature(signature).key if signature else bundle.manifest.primary.key
        backend = TFLiteBackend(bundle.flatbuffer, num_threads=num_threads, runtime=runtime, signature=key,
                                xnnpack=xnnpack)
        try:
            return cls(bundle, backend, verify_golden=verify_golden, signature=signature)
        except BaseException:
            backend.close()
            raise

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(spec.role for spec in self.signature.inputs)

    def reset(self) -> None:
        """Back to the initial state, for stateful models (streaming state in resource variables)."""
        self.backend.reset()

    # -- the three stages the pipeline times separately ---------------------------------------
    def prepare(
        self,
        image: np.ndarray | None = None,
        text: str | None = None,
        sensor: Mapping[str, float] | None = None,
        color_order: ColorOrder = "BGR",
        tensors_in: Mapping[str, Any] | None = None,
        prepared: PreparedImage | None = None,
    ) -> dict[str, np.ndarray]:
        """Raw inputs to interpreter-ready tensors keyed by input name (batch dimension added).

        ``tensors_in`` holds the values of ``tensor`` role inputs by input name. ``prepared``: the image
        input made ahead by :meth:`prepare_image` of this model (one of another model is ignored).
        """
        tensors: dict[str, np.ndarray] = {}
        for spec in self._tensor_inputs:
            if tensors_in is None or spec.name not in tensors_in:
                raise InputError(f"this model needs the tensor input {spec.name!r} {spec.shape}. "
                                 f"Got: {sorted(tensors_in or {}) or 'none'}")
            pre: TensorSpec = spec.preprocess  # type: ignore[assignment]
            tensors[spec.name] = self._quantize(spec, prepare_tensor(tensors_in[spec.name], pre, spec.shape,
                                                                     spec.name)[0])
        if self._image_input is not None:
            if prepared is not None and prepared.model is self:
                tensors[self._image_input.name], self._to_source = prepared.tensor, prepared.to_source
            elif image is None:
                raise InputError("this model needs an image input. Got: none")
            else:
                tensors[self._image_input.name] = self._prepare_image(image, color_order)
        if self._text_input is not None:
            if text is None:
                raise InputError("this model needs a text input. Got: none")
            assert self._tokenizer is not None
            text_input, tokenizer = self._text_input, self._tokenizer
            tensors[text_input.name] = self._text_tensor.get(
                text, lambda: self._quantize(text_input, tokenizer.encode(text)))
        if self._sensor_input is not None:
            if sensor is None:
                raise InputError("this model needs a sensor input. Got: none")
            sensor_spec: SensorSpec = self._sensor_input.preprocess  # type: ignore[assignment]
            sensor_input = self._sensor_input
            tensors[sensor_input.name] = self._sensor_tensor.get(
                tuple(sensor.items()), lambda: self._quantize(sensor_input, scale_sensor(sensor, sensor_spec)))
        return tensors

    def prepare_image(self, image: np.ndarray, color_order: ColorOrder = "BGR") -> PreparedImage:
        """The image input alone, for :meth:`prepare` to take later; safe on another thread than the one
        that prepares, invokes and decodes (the pipeline's capture thread makes it while the worker
        invokes the previous frame). Raises :class:`InputError` for a model without an image input."""
        if self._image_input is None:
            raise InputError("this model has no image input")
        started_s = time.perf_counter()
        tensor, to_source = self._image_tensor(image, color_order)
        return PreparedImage(tensor, to_source, self, (time.perf_counter() - started_s) * 1000.0)

    def infer(self, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Invoke and dequantize: float outputs keyed by name, batch dimension removed."""
        raw = self.backend.infer(tensors)
        return {name: _dequantize(self.backend.outputs[name], value)[0] for name, value in raw.items()}

    def decode(self, outputs: Mapping[str, np.ndarray]) -> Prediction:
        """The task's typed result; boxes and points in the frame's normalised coordinates."""
        result = self._decoder.decode(outputs, self._to_source)
        label, confidence = getattr(result, "label", None), getattr(result, "confidence", None)
        scores = getattr(result, "scores", None) if self.task.kind == "classify" else None
        return Prediction(label, float("nan") if confidence is None else float(confidence),
                          MappingProxyType(dict(scores or {})), outputs, result)

    def predict(
        self,
        image: np.ndarray | None = None,
        text: str | None = None,
        sensor: Mapping[str, float] | None = None,
        color_order: ColorOrder = "BGR",
        tensors: Mapping[str, Any] | None = None,
    ) -> Prediction:
        return self.decode(self.infer(self.prepare(image, text, sensor, color_order, tensors)))

    # -- checks ---------------------------------------------------------------------------------
    def verify_golden(self) -> int:
        """Re-run the bundle's golden vectors on a fresh interpreter; raise BundleError on the first that fails.

        The serving interpreter is left untouched: a stateful model starts serving from its initial state.
        """
        if not self.manifest.golden:
            return 0
        serving, self.backend = self.backend, self.backend.fresh()
        try:
            return self._verify_golden()
        finally:
            self.backend.close()
            self.backend = serving

    def _verify_golden(self) -> int:
        checked = 0
        for index, case in enumerate(self.manifest.golden):
            if case.signature is not None and case.signature != self.signature.key:
                continue  # another signature's case: its inputs and outputs are not this one's
            checked += 1
            image = self.bundle.asset_array(case.image_asset) if case.image_asset else None
            # raw outputs: what the bundle recorded; the task's decoding is not part of the contract
            tensors = {name: self.bundle.asset_array(asset) for name, asset in (case.tensors or {}).items()}
            outputs = self.infer(self.prepare(image=image, text=case.text, sensor=case.sensor, tensors_in=tensors))
            for name, expected in case.expected.items():
                if name not in outputs:
                    raise BundleError(f"golden case {index}: the model has no output {name!r}")
                got = np.asarray(outputs[name], dtype=np.float64).reshape(-1)
                same_shape = got.shape == (len(expected),)
                error = float(np.max(np.abs(got - np.asarray(expected)))) if same_shape and got.size else 0.0
                if not same_shape or error > case.atol:
                    where = f"golden case {index}" + (f" of signature {case.signature!r}" if case.signature else "")
                    how = (f"differs by {error:.3g} (tolerance {case.atol:.3g})" if same_shape
                           else f"has {got.size} values, expected {len(expected)}")
                    label = (f"; expected label {case.label!r}, got {self.decode(outputs).label!r}"
                             if case.label is not None else "")
                    raise BundleError(f"{where} fails on this runtime ({self.backend.runtime}): output {name!r} {how}"
                                      f"{label}. The model or the runtime is not what the bundle was made for")
        if checked:
            _log.info("golden vectors pass: %d cases", checked)
        return checked

    # -- resource ownership ---------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers --------------------------------------------------------------------------------
    def _prepare_image(self, image: np.ndarray, color_order: ColorOrder) -> np.ndarray:
        tensor, self._to_source = self._image_tensor(image, color_order)
        return tensor

    def _image_tensor(self, image: np.ndarray, color_order: ColorOrder) -> tuple[np.ndarray, FrameTransform]:
        """The image input's tensor and where its pixels came from; changes no state a decode reads, so
        another thread may call it (:meth:`prepare_image`)."""
        maker = self.image_tensor_maker
        assert maker is not None
        return maker.make(image, color_order)

    def _quantize(self, spec: InputSpec, value: np.ndarray) -> np.ndarray:
        binding = self.backend.inputs[spec.name]
        return quantize(value, binding.dtype, binding.scale, binding.zero_point)


class _LastTensor:
    """The input tensor last made, by the value it came from; made again only when the value changes
    (tokenizing and quantizing a command and a reading for every frame cost 15 us of a seek frame's Python)."""

    def __init__(self) -> None:
        self._last: tuple[object, np.ndarray] | None = None  # replaced whole: a key never pairs with another's tensor

    def get(self, key: object, make: Callable[[], np.ndarray]) -> np.ndarray:
        last = self._last
        if last is None or last[0] != key:
            last = self._last = (key, make())
        return last[1].copy()  # the caller's to change; a copy costs under 1 us


def _dequantize(binding: TensorBinding, value: np.ndarray) -> np.ndarray:
    if binding.quantized:
        return (value.astype(np.float32) - binding.zero_point) * np.float32(binding.scale)
    return value


def _check_contract(manifest: SignatureSpec, backend: TFLiteBackend) -> None:
    """The manifest must describe exactly the flatbuffer's signature: names, shapes, dtypes, quantization."""
    declared, actual = {s.name for s in manifest.inputs}, set(backend.inputs)
    if declared != actual:
        raise BundleError(
            f"manifest inputs do not match the model's signature. Manifest: {sorted(declared)}. Model: {sorted(actual)}"
        )
    declared_out, actual_out = {s.name for s in manifest.outputs}, set(backend.outputs)
    if declared_out != actual_out:
        raise BundleError(
            f"manifest outputs do not match the model's signature. Manifest: {sorted(declared_out)}. Model: {sorted(actual_out)}"
        )
    for spec in manifest.inputs:
        _check_tensor(spec, backend.inputs[spec.name])
    for out in manifest.outputs:
        _check_tensor(out, backend.outputs[out.name])


def _check_tensor(spec: Any, binding: TensorBinding) -> None:
    if tuple(spec.shape) != binding.shape:
        raise BundleError(f"tensor {spec.name!r}: manifest shape {tuple(spec.shape)} but the model has {binding.shape}")
    if np.dtype(spec.dtype) != binding.dtype:
        raise BundleError(f"tensor {spec.name!r}: manifest dtype {spec.dtype} but the model has {binding.dtype}")
    q = spec.quantization
    mismatch = q is None or abs(q.scale - binding.scale) > 1e-6 * max(1.0, binding.scale) or q.zero_point != binding.zero_point
    if binding.quantized and mismatch:
        raise BundleError(
            f"tensor {spec.name!r}: manifest quantization {q} but the model has "
            f"scale={binding.scale}, zero_point={binding.zero_point}"
        )
    if spec.role == "text" and not isinstance(spec.preprocess, TokenizerSpec):
        raise BundleError(f"tensor {spec.name!r}: text input without a tokenizer spec")


Model = FusionModel  # the name for any task; FusionModel stays for the fusion models that came first
