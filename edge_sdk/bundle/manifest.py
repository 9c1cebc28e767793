"""The bundle manifest: the model's tensor contract, carried inside the model file.

Inputs and outputs are bound by their signature names, never by position: the TFLite converter
orders inputs differently from Keras. Every input says its role and how to preprocess raw data for
it; every output says its role and labels; quantization parameters are recorded so they can be
checked against the flatbuffer at load time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edge_sdk.errors import BundleError
from edge_sdk.preprocess import ImageSpec, SensorSpec, TokenizerSpec

__all__ = [
    "SCHEMA",
    "GoldenCase",
    "InputSpec",
    "Manifest",
    "ModelInfo",
    "OutputSpec",
    "Quantization",
]

SCHEMA = "edge_sdk.bundle/1"
InputRole = Literal["image", "text", "sensor"]
OutputRole = Literal["scores", "logits", "embedding", "regression"]
QuantMode = Literal["float32", "float16", "dynamic", "int8", "int8_io_int8", "int8_io_uint8", "external"]
_DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64", "bool")


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class InputSpec:
    name: str
    role: InputRole
    shape: tuple[int, ...]
    dtype: str
    preprocess: ImageSpec | TokenizerSpec | SensorSpec
    quantization: Quantization | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**_tensor_fields(self), "preprocess": self.preprocess.to_dict()}


@dataclass(frozen=True)
class OutputSpec:
    name: str
    role: OutputRole
    shape: tuple[int, ...]
    dtype: str
    labels: tuple[str, ...] = ()
    quantization: Quantization | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**_tensor_fields(self), "labels": list(self.labels)}


def _tensor_fields(spec: InputSpec | OutputSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "role": spec.role,
        "shape": list(spec.shape),
        "dtype": spec.dtype,
        "quantization": asdict(spec.quantization) if spec.quantization else None,
    }


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str = "1"
    description: str = ""


@dataclass(frozen=True)
class GoldenCase:
    """Raw inputs (image as a bundle asset, text, sensor reading) and the outputs they must give."""

    image_asset: str | None
    text: str | None
    sensor: Mapping[str, float] | None
    expected: Mapping[str, tuple[float, ...]]
    atol: float
    label: str | None = None


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    quantization: QuantMode
    tflite_sha256: str = ""
    fusion: str = ""
    converter: Mapping[str, str] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    golden: tuple[GoldenCase, ...] = ()
    created: str = ""
    schema: str = SCHEMA

    def input(self, role: str) -> InputSpec | None:
        """The (first) input with this role, or None when the model does not take it."""
        return next((spec for spec in self.inputs if spec.role == role), None)

    @property
    def scores_output(self) -> OutputSpec | None:
        return next((o for o in self.outputs if o.role in ("scores", "logits")), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "model": asdict(self.model),
            "created": self.created,
            "converter": dict(self.converter),
            "tflite_sha256": self.tflite_sha256,
            "fusion": self.fusion,
            "quantization": self.quantization,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
            "parity": dict(self.parity),
            "golden": [
                {
                    "image_asset": g.image_asset,
                    "text": g.text,
                    "sensor": dict(g.sensor) if g.sensor is not None else None,
                    "expected": {k: list(v) for k, v in g.expected.items()},
                    "atol": g.atol,
                    "label": g.label,
                }
                for g in self.golden
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "manifest.json") -> Manifest:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{where}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest.json") -> Manifest:
        if not isinstance(data, dict):
            raise BundleError(f"{where}: expected a JSON object. Got: {type(data).__name__}")
        schema = data.get("schema")
        if schema != SCHEMA:
            raise BundleError(f"{where}: unsupported bundle schema. Expected: {SCHEMA!r}. Got: {schema!r}")
        try:
            return cls(
                schema=schema,
                model=ModelInfo(**data["model"]),
                created=str(data.get("created", "")),
                converter=dict(data.get("converter", {})),
                tflite_sha256=str(data.get("tflite_sha256", "")),
                fusion=str(data.get("fusion", "")),
                quantization=data["quantization"],
                inputs=tuple(_input_from_dict(d, f"{where}: inputs[{i}]") for i, d in enumerate(data["inputs"])),
                outputs=tuple(_output_from_dict(d, f"{where}: outputs[{i}]") for i, d in enumerate(data["outputs"])),
                parity=dict(data.get("parity", {})),
                golden=tuple(
                    GoldenCase(
                        image_asset=g.get("image_asset"),
                        text=g.get("text"),
                        sensor=g.get("sensor"),
                        expected={k: tuple(float(x) for x in v) for k, v in g["expected"].items()},
                        atol=float(g["atol"]),
                        label=g.get("label"),
                    )
                    for g in data.get("golden", [])
                ),
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc


def _quant(data: Any) -> Quantization | None:
    return Quantization(float(data["scale"]), int(data["zero_point"])) if data else None


def _check_dtype(dtype: str, where: str) -> str:
    if dtype not in _DTYPES:
        raise BundleError(f"{where}: unknown dtype. Expected one of {_DTYPES}. Got: {dtype!r}")
    return dtype


def _input_from_dict(data: dict[str, Any], where: str) -> InputSpec:
    role = data.get("role")
    pre = data.get("preprocess") or {}
    kind = pre.get("kind")
    parsers: dict[str, Callable[[dict[str, Any]], ImageSpec | TokenizerSpec | SensorSpec]] = {
        "image": ImageSpec.from_dict, "text": TokenizerSpec.from_dict, "sensor": SensorSpec.from_dict,
    }
    if role not in parsers:
        raise BundleError(f"{where}: role must be one of {sorted(parsers)}. Got: {role!r}")
    if kind != role:
        raise BundleError(f"{where}: preprocess kind must match role {role!r}. Got: {kind!r}")
    return InputSpec(
        name=str(data["name"]),
        role=role,
        shape=tuple(int(x) for x in data["shape"]),
        dtype=_check_dtype(data["dtype"], where),
        preprocess=parsers[role](pre),
        quantization=_quant(data.get("quantization")),
    )


def _output_from_dict(data: dict[str, Any], where: str) -> OutputSpec:
    return OutputSpec(
        name=str(data["name"]),
        role=data.get("role", "scores"),
        shape=tuple(int(x) for x in data["shape"]),
        dtype=_check_dtype(data["dtype"], where),
        labels=tuple(str(x) for x in data.get("labels", ())),
        quantization=_quant(data.get("quantization")),
    )
