"""Wrap any third-party ``.tflite`` into a bundle by describing its inputs and outputs.

Shapes, dtypes and quantization are read from the flatbuffer with whichever interpreter is
installed (ai-edge-litert, else tflite-runtime; never TensorFlow); the description supplies what
a flatbuffer cannot say: each input's role and preprocessing (size, resize, colour order,
mean/std, tokenizer, sensor scaling) and each output's labels. Every description is checked
against the model, and a mismatch is an error that says what was expected and what came.

Inputs and outputs are named by the model's signature when it has one, else by tensor name; the
manifest records the name the runtime must use. A model with several signatures becomes one
bundle with an entry per described signature. Outputs left undescribed are kept with the ``raw``
role, so the manifest always states the model's whole contract and the loader accepts it.

A ``.tflite`` that already carries TFLite metadata (a zip of associated files after the
flatbuffer) is wrapped with its bytes untouched; a ``labels*.txt`` among those files fills in the
labels of a scores output the description leaves without. Before anything is written, the new
bundle is loaded the way the runtime loads it, so what ``wrap`` accepts, ``run`` accepts; image-only
signatures get golden vectors recorded on a synthetic image (:mod:`edge_sdk.bundle.goldens`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.bundle.goldens import record_goldens
from edge_sdk.bundle.io import write_bundle
from edge_sdk.bundle.manifest import (
    InputRole,
    InputSpec,
    Manifest,
    ModelInfo,
    OutputRole,
    OutputSpec,
    Quantization,
    SignatureSpec,
)
from edge_sdk.bundle.metadata import (
    associated_files,
    image_defaults,
    labels_from_associated_files,
    read_input_metadata,
)
from edge_sdk.errors import BundleError, MissingDependencyError
from edge_sdk.preprocess import ImageSpec, SensorSpec, TensorSpec, TokenizerSpec

__all__ = [
    "InputDescription",
    "OutputDescription",
    "SignatureDescription",
    "TensorDetail",
    "read_signatures",
    "read_tensor_details",
    "wrap_from_spec_file",
    "wrap_signatures",
    "wrap_tflite",
]

_log = logging.getLogger(__name__)
_PREPROCESS_TYPES: dict[str, type] = {"image": ImageSpec, "text": TokenizerSpec, "sensor": SensorSpec,
                                      "tensor": TensorSpec}
_DTYPES_BY_ROLE = {"image": ("float32", "uint8", "int8"), "text": ("int32", "int64"),
                   "sensor": ("float32", "int8", "uint8"), "tensor": ("float32", "float16", "int8", "uint8", "int16",
                                                                      "int32", "int64", "bool")}


@dataclass(frozen=True)
class InputDescription:
    """What the flatbuffer cannot say about one input. ``name=None``: the model's only input."""

    role: InputRole
    preprocess: ImageSpec | TokenizerSpec | SensorSpec | TensorSpec
    name: str | None = None


@dataclass(frozen=True)
class OutputDescription:
    """Labels (one per score) and role of one output. ``name=None``: the model's only output."""

    labels: tuple[str, ...] = ()
    role: OutputRole = "scores"
    name: str | None = None


@dataclass(frozen=True)
class SignatureDescription:
    """One signature to wrap. ``key=None``: the model's only signature (or its tensors when it has none)."""

    inputs: Sequence[InputDescription]
    outputs: Sequence[OutputDescription] = ()
    key: str | None = None
    task: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TensorDetail:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None


Details = dict[str, TensorDetail]


def read_signatures(flatbuffer: bytes) -> dict[str | None, tuple[Details, Details]]:
    """(inputs, outputs) by name for each signature key; ``{None: ...}`` by tensor name when there is none."""
    interpreter = _interpreter(flatbuffer)
    signatures = interpreter.get_signature_list()
    if not signatures:
        inputs = {d["name"]: d for d in interpreter.get_input_details()}
        outputs = {d["name"]: d for d in interpreter.get_output_details()}
        return {None: ({n: _detail(n, d) for n, d in inputs.items()}, {n: _detail(n, d) for n, d in outputs.items()})}
    found: dict[str | None, tuple[Details, Details]] = {}
    for key in signatures:
        runner = interpreter.get_signature_runner(key)
        found[key] = ({n: _detail(n, d) for n, d in runner.get_input_details().items()},
                      {n: _detail(n, d) for n, d in runner.get_output_details().items()})
    return found


def read_tensor_details(flatbuffer: bytes) -> tuple[Details, Details]:
    """(inputs, outputs) of the model's only signature (or ``serving_default``), else by tensor name."""
    signatures = read_signatures(flatbuffer)
    key = _pick_key(None, signatures)
    return signatures[key]


def wrap_tflite(
    tflite_path: str | Path,
    out_path: str | Path,
    inputs: Sequence[InputDescription],
    outputs: Sequence[OutputDescription],
    model_info: ModelInfo,
    *,
    signature: str | None = None,
    task: Mapping[str, Any] | None = None,
) -> Manifest:
    """Write ``out_path``: the model of ``tflite_path`` plus a manifest built from the descriptions.

    Raises :class:`BundleError` when a description names a tensor the model lacks, leaves an input
    undescribed, or does not fit its shape or dtype.
    """
    return wrap_signatures(tflite_path, out_path, [SignatureDescription(inputs, outputs, signature, task)], model_info)


def wrap_signatures(tflite_path: str | Path, out_path: str | Path, signatures: Sequence[SignatureDescription],
                    model_info: ModelInfo) -> Manifest:
    """:func:`wrap_tflite` for several signatures of one model: one bundle, one manifest entry each."""
    source, flatbuffer = _read_model(tflite_path)
    return _wrap(source, flatbuffer, read_signatures(flatbuffer), out_path, signatures, model_info)


def _read_model(tflite_path: str | Path) -> tuple[Path, bytes]:
    source = Path(tflite_path)
    try:
        return source, source.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read model {source}: {exc.strerror or exc}") from exc


def _wrap(source: Path, flatbuffer: bytes, available: dict[str | None, tuple[Details, Details]],
          out_path: str | Path, signatures: Sequence[SignatureDescription], model_info: ModelInfo) -> Manifest:
    """The model read once (bytes, signatures) by the caller, described, loaded as run would, written."""
    associated = associated_files(flatbuffer, source)
    specs = []
    for description in signatures:
        key = _pick_key(description.key, available)
        specs.append(_signature_spec(description, key, *available[key], associated))
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise BundleError(f"a signature is described twice. Got: {keys}")
    manifest = Manifest(
        model=model_info,
        signatures=tuple(specs),
        quantization="external",
        converter={"wrapped_from": source.name},
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    assets = {}
    several = len(manifest.signatures) > 1
    for sig in manifest.signatures:
        for out in sig.outputs:
            if out.labels:  # plain text too, for people and other tools
                name = "labels.txt" if len(sig.outputs) == 1 and not several else f"labels_{out.name}.txt"
                assets[f"{sig.key}/{name}" if several else name] = ("\n".join(out.labels) + "\n").encode()
    target = Path(out_path)
    checking = target.with_name(target.name + ".checking")
    try:
        write_bundle(checking, flatbuffer, manifest, assets)
        _check_loads(checking)
        golden, golden_assets = record_goldens(checking, manifest)
        written = write_bundle(checking, flatbuffer, replace(manifest, golden=golden), {**assets, **golden_assets})
        _check_loads(checking)  # and now its goldens pass, as every later load checks them
        checking.replace(target)
    finally:
        checking.unlink(missing_ok=True)
    _log.info("wrapped %s into %s", source, out_path)
    return written


def _check_loads(path: Path) -> None:
    """Load every signature as ``edge-sdk run`` would (interpreter, contract, task, goldens)."""
    from edge_sdk.bundle.io import read_bundle
    from edge_sdk.model import FusionModel

    bundle = read_bundle(path)
    for signature in bundle.manifest.signatures:
        with FusionModel.from_bundle(bundle, signature=signature.key):
            pass


def _pick_key(key: str | None, available: Mapping[str | None, Any]) -> str | None:
    """The signature to wrap, by the rule the backend binds with; None for a model without any."""
    if None in available:
        if key is not None:
            raise BundleError(f"the model has no SignatureDef, so no signature {key!r}")
        return None
    from edge_sdk.backends.signatures import choose_signature
    from edge_sdk.errors import BackendError

    try:
        listed = {k: {"inputs": list(ins), "outputs": list(outs)} for k, (ins, outs) in available.items() if k}
        return choose_signature(listed, key)
    except BackendError as exc:
        raise BundleError(str(exc).replace("Pass signature=KEY", "Name the one to wrap: key in the spec")) from None


def _signature_spec(description: SignatureDescription, key: str | None, model_inputs: Details,
                    model_outputs: Details, associated: Mapping[str, bytes]) -> SignatureSpec:
    where = f"signature {key!r}: " if key else ""
    try:
        described_inputs = _bind(description.inputs, model_inputs, "input")
        undescribed = sorted(set(model_inputs) - {name for name, _ in described_inputs})
        if undescribed:
            raise BundleError(f"model inputs {undescribed} are not described. The model's inputs: {sorted(model_inputs)}")
        described_outputs = _bind(description.outputs, model_outputs, "output", allow_none=True)
    except BundleError as exc:
        raise BundleError(f"{where}{exc}") from None
    named = {name for name, _ in described_outputs}
    kept_raw = [(name, OutputDescription(role="raw", name=name)) for name in model_outputs if name not in named]
    if kept_raw:
        _log.info("%soutputs %s are not described: kept with role raw", where, [n for n, _ in kept_raw])
    outputs = tuple(_output_spec(labels_from_associated_files(d, model_outputs[n], associated), model_outputs[n])
                    for n, d in [*described_outputs, *kept_raw])
    task = dict(description.task) if description.task is not None else None
    if task is not None:
        for role, name in dict(task.get("outputs") or {}).items():
            if name not in model_outputs:
                raise BundleError(f"{where}task.outputs.{role}: the model has no output {name!r}. "
                                  f"The model's outputs: {sorted(model_outputs)}")
    spec = SignatureSpec(key=key, inputs=tuple(_input_spec(d, model_inputs[n]) for n, d in described_inputs),
                         outputs=outputs, task=task)
    from edge_sdk.bundle.tasking import task_spec

    try:  # the loader resolves the task the same way: refuse here what it would refuse there
        resolved = task_spec(spec)
    except BundleError as exc:
        raise BundleError(f"{where}{exc}") from None
    return replace(spec, task=resolved.to_dict())


def _bind(descriptions: Sequence[Any], available: dict[str, TensorDetail], kind: str,
          allow_none: bool = False) -> list[tuple[str, Any]]:
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
    if not bound and not allow_none:
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
    if isinstance(pre, TensorSpec):  # any shape
        return InputSpec(name=t.name, role=d.role, shape=t.shape, dtype=t.dtype, preprocess=pre,
                         quantization=t.quantization)
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
    """:func:`wrap_signatures` driven by a YAML or JSON spec (``edge-sdk wrap --spec``; the format is
    :class:`edge_sdk.bundle.spec.WrapSpec`, documented in docs/bring-your-own-model.md)."""
    from edge_sdk.bundle.spec import read_wrap_spec
    from edge_sdk.errors import ConfigError

    spec = read_wrap_spec(spec_path)
    source, flatbuffer = _read_model(tflite_path)
    available = read_signatures(flatbuffer)
    metadata = read_input_metadata(flatbuffer)
    signatures = []
    for s_index, section in enumerate(spec.all_signatures):
        prefix = f"{spec_path}: " + (f"signatures[{s_index}]." if spec.signatures else "")
        model_inputs = available[_pick_key(section.key, available)][0]
        inputs = []
        for index, item in enumerate(section.inputs):
            preprocess = {**image_defaults(item, model_inputs, metadata), **dict(item.preprocess), "kind": item.role}
            try:
                parsed = _PREPROCESS_TYPES[item.role].from_dict(preprocess)  # type: ignore[attr-defined]
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{prefix}inputs[{index}].preprocess: {exc}") from exc
            inputs.append(InputDescription(role=item.role, preprocess=parsed, name=item.name))
        outputs = [OutputDescription(labels=o.labels, role=o.role, name=o.name) for o in section.outputs]
        task = None
        if section.task is not None:
            task = {"kind": section.task.kind, "outputs": dict(section.task.outputs), "params": dict(section.task.params),
                    "labels": list(section.task.labels)}
        signatures.append(SignatureDescription(inputs, outputs, section.key, task))
    info = spec.model
    model_info = ModelInfo(name=info.name or Path(tflite_path).stem, version=info.version, description=info.description)
    return _wrap(source, flatbuffer, available, out_path, signatures, model_info)
