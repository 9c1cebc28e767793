"""Wrap any third-party ``.tflite`` into a bundle by describing its inputs and outputs.

Shapes, dtypes and quantization are read from the flatbuffer with whichever interpreter is
installed (ai-edge-litert, else tflite-runtime; never TensorFlow); the description supplies what
a flatbuffer cannot say: each input's role and preprocessing (size, resize, colour order,
mean/std, tokenizer, sensor scaling) and each output's labels. Every description is checked
against the model, and a mismatch is an error that says what was expected and what came.

Inputs and outputs are named by the model's signature when it has one (``serving_default`` or
its only signature), else by tensor name; the manifest records the name the runtime must use.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.bundle.io import write_bundle
from edge_sdk.bundle.manifest import (
    InputRole,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputRole,
    OutputSpec,
    Quantization,
)
from edge_sdk.errors import BundleError, MissingDependencyError
from edge_sdk.preprocess import ImageSpec, SensorSpec, TokenizerSpec

__all__ = [
    "InputDescription",
    "OutputDescription",
    "TensorDetail",
    "read_tensor_details",
    "wrap_from_spec_file",
    "wrap_tflite",
]

_log = logging.getLogger(__name__)
_PREPROCESS_TYPES = {"image": ImageSpec, "text": TokenizerSpec, "sensor": SensorSpec}
_DTYPES_BY_ROLE = {"image": ("float32", "uint8", "int8"), "text": ("int32", "int64"), "sensor": ("float32", "int8", "uint8")}


@dataclass(frozen=True)
class InputDescription:
    """What the flatbuffer cannot say about one input. ``name=None``: the model's only input."""

    role: InputRole
    preprocess: ImageSpec | TokenizerSpec | SensorSpec
    name: str | None = None


@dataclass(frozen=True)
class OutputDescription:
    """Labels (one per score) and role of one output. ``name=None``: the model's only output."""

    labels: tuple[str, ...] = ()
    role: OutputRole = "scores"
    name: str | None = None


@dataclass(frozen=True)
class TensorDetail:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None


def read_tensor_details(flatbuffer: bytes) -> tuple[dict[str, TensorDetail], dict[str, TensorDetail]]:
    """(inputs, outputs) by name, from an interpreter; signature names when the model has them."""
    interpreter = _interpreter(flatbuffer)
    signatures = interpreter.get_signature_list()
    if signatures:
        key = "serving_default" if "serving_default" in signatures else None
        if key is None and len(signatures) > 1:
            raise BundleError(f"the model has several signatures and none is 'serving_default'. Got: {sorted(signatures)}")
        runner = interpreter.get_signature_runner(key or next(iter(signatures)))
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
    else:
        inputs = {d["name"]: d for d in interpreter.get_input_details()}
        outputs = {d["name"]: d for d in interpreter.get_output_details()}
    return {n: _detail(n, d) for n, d in inputs.items()}, {n: _detail(n, d) for n, d in outputs.items()}


def wrap_tflite(
    tflite_path: str | Path,
    out_path: str | Path,
    inputs: Sequence[InputDescription],
    outputs: Sequence[OutputDescription],
    model_info: ModelInfo,
) -> Manifest:
    """Write ``out_path``: the model of ``tflite_path`` plus a manifest built from the descriptions.

    Raises :class:`BundleError` when a description names a tensor the model lacks, leaves an input
    undescribed, or does not fit its shape or dtype.
    """
    source = Path(tflite_path)
    try:
        flatbuffer = source.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read model {source}: {exc.strerror or exc}") from exc
    if zipfile.is_zipfile(io.BytesIO(flatbuffer)):
        raise BundleError(f"{source} is already a bundle (it carries an archive). Wrap the plain .tflite instead")
    model_inputs, model_outputs = read_tensor_details(flatbuffer)
    described_inputs = _bind(inputs, model_inputs, "input")
    described_outputs = _bind(outputs, model_outputs, "output")
    undescribed = sorted(set(model_inputs) - {name for name, _ in described_inputs})
    if undescribed:
        raise BundleError(f"model inputs {undescribed} are not described. The model's inputs: {sorted(model_inputs)}")
    manifest = Manifest.single(
        model=model_info,
        inputs=tuple(_input_spec(d, model_inputs[name]) for name, d in described_inputs),
        outputs=tuple(_output_spec(d, model_outputs[name]) for name, d in described_outputs),
        quantization="external",
        converter={"wrapped_from": source.name},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    assets = {}
    for spec in manifest.outputs:
        if spec.labels:
            assets[f"labels_{spec.name}.txt" if len(manifest.outputs) > 1 else "labels.txt"] = ("\n".join(spec.labels) + "\n").encode()
    written = write_bundle(out_path, flatbuffer, manifest, assets)
    _log.info("wrapped %s into %s", source, out_path)
    return written


def _bind(descriptions: Sequence[Any], available: dict[str, TensorDetail], kind: str) -> list[tuple[str, Any]]:
    bound: list[tuple[str, Any]] = []
    for d in descriptions:
        name = d.name
        if name is None:
            if len(available) != 1:
                raise BundleError(
                    f"an unnamed {kind} description needs a model with one {kind}. Name it; the model's {kind}s: {sorted(available)}"
                )
            name = next(iter(available))
        if name not in available:
            raise BundleError(f"the model has no {kind} named {name!r}. The model's {kind}s: {sorted(available)}")
        if any(name == other for other, _ in bound):
            raise BundleError(f"{kind} {name!r} is described twice")
        bound.append((name, d))
    if not bound:
        raise BundleError(f"describe at least one {kind}. The model's {kind}s: {sorted(available)}")
    return bound


def _input_spec(d: InputDescription, t: TensorDetail) -> InputSpec:
    where = f"input {t.name!r} ({d.role})"
    expected_type = _PREPROCESS_TYPES.get(d.role)
    if expected_type is None:
        raise BundleError(f"{where}: role must be one of {sorted(_PREPROCESS_TYPES)}. Got: {d.role!r}")
    if not isinstance(d.preprocess, expected_type):
        raise BundleError(f"{where}: preprocessing must be a {expected_type.__name__}. Got: {type(d.preprocess).__name__}")
    if t.dtype not in _DTYPES_BY_ROLE[d.role]:
        raise BundleError(f"{where}: dtype must be one of {_DTYPES_BY_ROLE[d.role]}. Got: {t.dtype}")
    pre = d.preprocess
    if isinstance(pre, ImageSpec):
        expected: tuple[int, ...] = (1, pre.height, pre.width, 3)
        why = f"height={pre.height}, width={pre.width}, 3 channels, NHWC"
    elif isinstance(pre, TokenizerSpec):
        expected, why = (1, pre.max_length), f"max_length={pre.max_length}"
    else:
        expected, why = (1, len(pre.channels)), f"{len(pre.channels)} channels {pre.names}"
    if t.shape != expected:
        raise BundleError(f"{where}: the description gives shape {expected} ({why}). Got from the model: {t.shape}")
    return InputSpec(name=t.name, role=d.role, shape=t.shape, dtype=t.dtype, preprocess=pre, quantization=t.quantization)


def _output_spec(d: OutputDescription, t: TensorDetail) -> OutputSpec:
    if d.labels and (not t.shape or t.shape[-1] != len(d.labels)):
        raise BundleError(
            f"output {t.name!r}: expected one score per label, {len(d.labels)} labels. Got from the model: shape {t.shape}"
        )
    return OutputSpec(name=t.name, role=d.role, shape=t.shape, dtype=t.dtype, labels=tuple(d.labels), quantization=t.quantization)


def _detail(name: str, detail: dict[str, Any]) -> TensorDetail:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantization = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorDetail(name, tuple(int(x) for x in detail["shape"]), np.dtype(detail["dtype"]).name, quantization)


def _interpreter(flatbuffer: bytes) -> Any:
    try:
        module = require("ai_edge_litert.interpreter", "reading a .tflite model")
    except MissingDependencyError:
        try:
            module = require("tflite_runtime.interpreter", "reading a .tflite model")
        except MissingDependencyError:
            module = require("ai_edge_litert.interpreter", "reading a .tflite model")  # names the preferred extra
    try:
        interpreter = module.Interpreter(model_content=flatbuffer)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BundleError(f"the interpreter cannot load this model: {exc}") from exc
    return interpreter


def wrap_from_spec_file(tflite_path: str | Path, out_path: str | Path, spec_path: str | Path) -> Manifest:
    """:func:`wrap_tflite` driven by a YAML or JSON description (what ``edge-sdk wrap --spec`` reads)::

        model: {name: mobilenet_v2, version: "1"}
        inputs:
          - role: image
            preprocess: {width: 224, height: 224, color_order: RGB, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5]}
        outputs:
          - labels_file: labels.txt      # or labels: [cat, dog]; paths are relative to the spec
    """
    from edge_sdk.errors import ConfigError

    spec_file = Path(spec_path)
    try:
        text = spec_file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read wrap spec {spec_file}: {exc.strerror or exc}") from exc
    if spec_file.suffix.lower() == ".json":
        import json

        data = json.loads(text)
    else:
        from edge_sdk._lazy import require

        data = require("yaml", "reading YAML wrap specs").safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list) or not data["inputs"]:
        raise ConfigError(f"{spec_file}: expected a mapping with a non-empty 'inputs' list. Got: {type(data).__name__}")
    unknown = sorted(set(data) - {"model", "inputs", "outputs"})
    if unknown:
        raise ConfigError(f"{spec_file}: unknown key {unknown[0]!r}. Valid keys: inputs, model, outputs")
    inputs = []
    for index, item in enumerate(data["inputs"]):
        where = f"{spec_file}: inputs[{index}]"
        role = item.get("role") if isinstance(item, dict) else None
        if role not in _PREPROCESS_TYPES:
            raise ConfigError(f"{where}.role: expected one of {sorted(_PREPROCESS_TYPES)}. Got: {role!r}")
        preprocess = dict(item.get("preprocess") or {})
        preprocess["kind"] = role
        if role == "text" and "vocabulary_file" in preprocess:
            words = (spec_file.parent / preprocess.pop("vocabulary_file")).read_text().split("\n")
            preprocess["vocabulary"] = [w for w in words if w]
        try:
            parsed = _PREPROCESS_TYPES[role].from_dict(preprocess)  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}.preprocess: {exc}") from exc
        inputs.append(InputDescription(role=role, preprocess=parsed, name=item.get("name")))
    outputs = []
    for index, item in enumerate(data.get("outputs") or [{}]):
        labels = item.get("labels") or ()
        if "labels_file" in item:
            labels = [line.strip() for line in (spec_file.parent / item["labels_file"]).read_text().splitlines() if line.strip()]
        outputs.append(OutputDescription(labels=tuple(str(x) for x in labels), role=item.get("role", "scores"),
                                         name=item.get("name")))
    info = data.get("model") or {}
    model_info = ModelInfo(name=str(info.get("name", Path(tflite_path).stem)), version=str(info.get("version", "1")),
                           description=str(info.get("description", "")))
    return wrap_tflite(tflite_path, out_path, inputs, outputs, model_info)
