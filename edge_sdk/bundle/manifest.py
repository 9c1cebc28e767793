"""The bundle manifest: the model's tensor contract, carried inside the model file.

Inputs and outputs are bound by their signature names, never by position: the TFLite converter
orders inputs differently from Keras. A model without a SignatureDef (most published models) binds
by tensor name instead. Every input says its role and how to preprocess raw data for it; every
output says its role and labels; quantization parameters are recorded so they can be checked
against the flatbuffer at load time.

Schema 2 holds one entry per signature (an encoder and a decoder step; an image and a text
embedder), each with its own inputs, outputs and task (``edge_sdk.tasks``: how raw outputs become a
typed result). Schema 1 bundles, one unnamed signature and no task, are read as schema 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from edge_sdk.errors import BundleError
from edge_sdk.preprocess import ImageSpec, SensorSpec, TensorSpec, TokenizerSpec

__all__ = [
    "SCHEMA",
    "GoldenCase",
    "InputSpec",
    "Manifest",
    "ModelInfo",
    "OutputSpec",
    "Quantization",
    "SignatureSpec",
]

SCHEMA = "edge_sdk.bundle/2"
READABLE_SCHEMAS = ("edge_sdk.bundle/1", SCHEMA)
InputRole = Literal["image", "text", "sensor", "tensor"]
# what an output holds; a task names the roles it reads (detect: boxes and scores, or the four
# TFLite_Detection_PostProcess outputs; segment: mask; ...)
OutputRole = Literal["scores", "logits", "embedding", "regression", "boxes", "classes", "count", "mask",
                     "landmarks", "keypoints", "state", "raw"]
OUTPUT_ROLES: tuple[str, ...] = OutputRole.__args__  # type: ignore[attr-defined]
Preprocess = ImageSpec | TokenizerSpec | SensorSpec | TensorSpec
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
    preprocess: Preprocess
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
    """Raw inputs (image as a bundle asset, text, sensor reading) and the outputs they must give.

    ``signature`` names the signature the case belongs to in a bundle of several (an image and a
    text embedder each have their own); None: every signature the bundle serves. ``tensors`` maps
    each ``tensor``-role input to the ``.npy`` asset that holds its value (a decoder step's token,
    state and memory).
    """

    image_asset: str | None
    text: str | None
    sensor: Mapping[str, float] | None
    expected: Mapping[str, tuple[float, ...]]
    atol: float
    label: str | None = None
    signature: str | None = None
    tensors: Mapping[str, str] | None = None


@dataclass(frozen=True)
class SignatureSpec:
    """One signature of the model: its inputs, outputs and task.

    ``key`` is the SignatureDef key; None means the model's only signature, or, for a model with
    no SignatureDef, its tensors bound by tensor name. ``task`` is an ``edge_sdk.tasks.TaskSpec``
    in its dict form (None: a classifier when an output has the ``scores`` or ``logits`` role).
    """

    key: str | None
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    task: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        where = f"signature {self.key!r}" if self.key else "the signature"
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            names = [spec.name for spec in specs]
            twice = sorted({name for name in names if names.count(name) > 1})
            if twice:
                raise BundleError(f"{where}: {kind} {twice[0]!r} is described twice")
        if not self.outputs:
            raise BundleError(f"{where}: expected at least one output. Got: none")

    def input(self, role: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.role == role), None)

    def output(self, name: str) -> OutputSpec:
        for spec in self.outputs:
            if spec.name == name:
                return spec
        raise BundleError(f"no output {name!r}. Outputs: {[spec.name for spec in self.outputs]}")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "inputs": [spec.to_dict() for spec in self.inputs],
                "outputs": [spec.to_dict() for spec in self.outputs],
                "task": dict(self.task) if self.task is not None else None}


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    signatures: tuple[SignatureSpec, ...]
    quantization: QuantMode
    tflite_sha256: str = ""
    fusion: str = ""
    converter: Mapping[str, str] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    golden: tuple[GoldenCase, ...] = ()
    created: str = ""
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if not self.signatures:
            raise BundleError("a manifest needs at least one signature. Got: none")
        keys = [s.key for s in self.signatures]
        if len(keys) > 1 and (None in keys or len(set(keys)) != len(keys)):
            raise BundleError(f"several signatures need distinct keys. Got: {keys}")

    @classmethod
    def single(cls, model: ModelInfo, inputs: tuple[InputSpec, ...], outputs: tuple[OutputSpec, ...],
               quantization: QuantMode, *, signature: str | None = None, task: Mapping[str, Any] | None = None,
               **fields: Any) -> Manifest:
        """The common case: one signature."""
        return cls(model=model, signatures=(SignatureSpec(signature, inputs, outputs, task),),
                   quantization=quantization, **fields)

    def with_primary(self, **changes: Any) -> Manifest:
        """A copy whose first signature has ``changes`` (inputs=, outputs=, task=, key=)."""
        return replace(self, signatures=(replace(self.primary, **changes), *self.signatures[1:]))

    @property
    def primary(self) -> SignatureSpec:
        """The signature a plain run serves: the first."""
        return self.signatures[0]

    @property
    def inputs(self) -> tuple[InputSpec, ...]:
        return self.primary.inputs

    @property
    def outputs(self) -> tuple[OutputSpec, ...]:
        return self.primary.outputs

    def signature(self, key: str | None) -> SignatureSpec:
        for spec in self.signatures:
            if spec.key == key:
                return spec
        raise BundleError(f"the bundle has no signature {key!r}. Signatures: {[s.key for s in self.signatures]}")

    def input(self, role: str) -> InputSpec | None:
        """The (first) input of the primary signature with this role, or None when it does not take it."""
        return self.primary.input(role)

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
            "signatures": [spec.to_dict() for spec in self.signatures],
            "parity": dict(self.parity),
            "golden": [
                {
                    "image_asset": g.image_asset,
                    "text": g.text,
                    "sensor": dict(g.sensor) if g.sensor is not None else None,
                    "expected": {k: list(v) for k, v in g.expected.items()},
                    "atol": g.atol,
                    "label": g.label,
                    **({"signature": g.signature} if g.signature is not None else {}),
                    **({"tensors": dict(g.tensors)} if g.tensors else {}),
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
        if schema not in READABLE_SCHEMAS:
            raise BundleError(f"{where}: unsupported bundle schema. Expected one of {READABLE_SCHEMAS}. Got: {schema!r}")
        try:
            if schema == "edge_sdk.bundle/1":  # one unnamed signature, no task
                signatures: tuple[SignatureSpec, ...] = (_signature_from_dict(
                    {"key": None, "inputs": data["inputs"], "outputs": data["outputs"], "task": None}, where),)
            else:
                signatures = tuple(_signature_from_dict(d, f"{where}: signatures[{i}]")
                                   for i, d in enumerate(data["signatures"]))
            return cls(
                schema=SCHEMA,
                model=ModelInfo(**data["model"]),
                created=str(data.get("created", "")),
                converter=dict(data.get("converter", {})),
                tflite_sha256=str(data.get("tflite_sha256", "")),
                fusion=str(data.get("fusion", "")),
                quantization=data["quantization"],
                signatures=signatures,
                parity=dict(data.get("parity", {})),
                golden=tuple(
                    GoldenCase(
                        image_asset=g.get("image_asset"),
                        text=g.get("text"),
                        sensor=g.get("sensor"),
                        expected={k: tuple(float(x) for x in v) for k, v in g["expected"].items()},
                        atol=float(g["atol"]),
                        label=g.get("label"),
                        signature=None if g.get("signature") is None else str(g["signature"]),
                        tensors={str(k): str(v) for k, v in g["tensors"].items()} if g.get("tensors") else None,
                    )
                    for g in data.get("golden", [])
                ),
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc


def _signature_from_dict(data: dict[str, Any], where: str) -> SignatureSpec:
    task = data.get("task")
    if task is not None and not isinstance(task, dict):
        raise BundleError(f"{where}: task must be a mapping or null. Got: {type(task).__name__}")
    key = data.get("key")
    return SignatureSpec(
        key=None if key is None else str(key),
        inputs=tuple(_input_from_dict(d, f"{where}: inputs[{i}]") for i, d in enumerate(data["inputs"])),
        outputs=tuple(_output_from_dict(d, f"{where}: outputs[{i}]") for i, d in enumerate(data["outputs"])),
        task=task,
    )


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
    parsers: dict[str, Callable[[dict[str, Any]], Preprocess]] = {
        "image": ImageSpec.from_dict, "text": TokenizerSpec.from_dict, "sensor": SensorSpec.from_dict,
        "tensor": TensorSpec.from_dict,
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
    role = data.get("role", "scores")
    if role not in OUTPUT_ROLES:
        raise BundleError(f"{where}: role must be one of {', '.join(OUTPUT_ROLES)}. Got: {role!r}")
    return OutputSpec(
        name=str(data["name"]),
        role=role,
        shape=tuple(int(x) for x in data["shape"]),
        dtype=_check_dtype(data["dtype"], where),
        labels=tuple(str(x) for x in data.get("labels", ())),
        quantization=_quant(data.get("quantization")),
    )
