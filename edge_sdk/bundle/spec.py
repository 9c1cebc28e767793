"""The wrap spec: what ``edge-sdk wrap --spec`` reads to make a bundle of any ``.tflite``.

Frozen dataclasses built with :mod:`edge_sdk.configtools`, like the device config: unknown keys
are refused with the valid ones listed, every error carries its key path, and
``python -m edge_sdk.bundle.specdoc`` renders the reference from these same classes (the field
``help`` texts), so the documented format cannot drift from the parser. A one-signature model
writes ``inputs``/``outputs``/``task`` at the top; a model with several signatures lists them
under ``signatures``::

    model: {name: face_detector, version: "1"}
    inputs:
      - role: image
        preprocess: {width: 128, height: 128, resize: letterbox, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5]}
    outputs:
      - {name: regressors, role: boxes}
      - {name: classificators, role: scores, labels: [face]}
    task: {kind: detect, params: {iou_threshold: 0.3}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge_sdk import configtools
from edge_sdk.bundle.manifest import OutputRole
from edge_sdk.errors import ConfigError

__all__ = ["InputSection", "ModelSection", "OutputSection", "SignatureSection", "TaskSection", "WrapSpec",
           "read_wrap_spec"]

TaskKind = Literal["classify", "detect", "segment", "embed", "landmarks", "regress", "raw"]


@dataclass(frozen=True)
class ModelSection:
    name: str = field(default="", metadata={"help": "model name in results and topics; empty: the file's stem"})
    version: str = field(default="1", metadata={"help": "model version in results"})
    description: str = field(default="", metadata={"help": "free text shown by `edge-sdk info`"})


@dataclass(frozen=True)
class InputSection:
    role: Literal["image", "text", "sensor", "tensor"] = field(metadata={
        "help": "image (a camera frame), text (a token sequence), sensor (named channels) or tensor (any "
                "shape and dtype, e.g. an audio feature window)"})
    name: str | None = field(default=None, metadata={
        "help": "the signature's input name (or the tensor name when the model has no signature); "
                "null: the model's only input"})
    preprocess: Mapping[str, Any] = field(default_factory=dict, metadata={
        "help": "the role's preprocessing: image {width, height, resize, interpolation, convention, color_order, "
                "mean, std, letterbox_fill}, where width and height default to the tensor's and mean, std and "
                "color_order to what the model's TFLite metadata says; text {vocabulary or vocabulary_file, max_length, lowercase, ...}; sensor "
                "{channels: [{name, unit, mean, std}]}; tensor {mean, std}"})


@dataclass(frozen=True)
class OutputSection:
    name: str | None = field(default=None, metadata={"help": "output name; null: the model's only output"})
    role: OutputRole = field(default="scores", metadata={
        "help": "what the output holds: scores, logits, embedding, regression, boxes, classes, count, mask, "
                "landmarks, keypoints, state or raw"})
    labels: tuple[str, ...] = field(default=(), metadata={"help": "one label per score (or per class of a mask)"})
    labels_file: str | None = field(default=None, metadata={
        "help": "labels one per line, relative to the spec file; instead of labels"})


@dataclass(frozen=True)
class TaskSection:
    kind: TaskKind = field(metadata={
        "help": "how the outputs become a result: classify, detect, segment, embed, landmarks, regress or raw"})
    outputs: Mapping[str, str] = field(default_factory=dict, metadata={
        "help": "the task's roles to output names, e.g. {boxes: regressors, scores: classificators}; "
                "empty: taken from the outputs' roles"})
    params: Mapping[str, Any] = field(default_factory=dict, metadata={
        "help": "the task's options (top_k, threshold, anchors, iou_threshold, ...): see the task reference"})
    labels: tuple[str, ...] = field(default=(), metadata={
        "help": "class names by class id (a detector's, a mask's); empty: the labels of the task's scores output"})


@dataclass(frozen=True)
class SignatureSection:
    key: str | None = field(default=None, metadata={
        "help": "the SignatureDef key; null: the model's only signature, or its tensors when it has none"})
    inputs: tuple[InputSection, ...] = field(default=(), metadata={"help": "every input of the signature"})
    outputs: tuple[OutputSection, ...] = field(default=(), metadata={
        "help": "outputs to describe; the others are kept with role raw"})
    task: TaskSection | None = field(default=None, metadata={
        "help": "null: classify when an output has the scores or logits role, else raw"})


@dataclass(frozen=True)
class WrapSpec:
    model: ModelSection = field(default_factory=ModelSection, metadata={"help": "name, version, description"})
    inputs: tuple[InputSection, ...] = field(default=(), metadata={"help": "one signature: its inputs"})
    outputs: tuple[OutputSection, ...] = field(default=(), metadata={"help": "one signature: its outputs"})
    task: TaskSection | None = field(default=None, metadata={"help": "one signature: its task"})
    signatures: tuple[SignatureSection, ...] = field(default=(), metadata={
        "help": "several signatures, each with key, inputs, outputs, task; instead of the three above"})

    def __post_init__(self) -> None:
        flat = bool(self.inputs or self.outputs or self.task)
        if flat and self.signatures:
            raise configtools.FieldError("WrapSpec", "signatures", "expected either signatures or inputs/outputs/task "
                                         "at the top, not both")
        if not flat and not self.signatures:
            raise configtools.FieldError("WrapSpec", "inputs", "expected the model's inputs (or signatures). Got: none")

    @property
    def all_signatures(self) -> tuple[SignatureSection, ...]:
        if self.signatures:
            return self.signatures
        return (SignatureSection(None, self.inputs, self.outputs, self.task),)


def read_wrap_spec(path: str | Path) -> WrapSpec:
    """Read and check a YAML or JSON wrap spec; ``labels_file`` and ``vocabulary_file`` are read here."""
    from edge_sdk.config import read_config_file

    spec_file = Path(path)
    try:
        data, _ = read_config_file(spec_file)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("device config", "wrap spec")) from exc
    try:
        spec = configtools.build(WrapSpec, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{spec_file}: {exc}") from exc
    return _with_files(spec, spec_file.parent)


def _with_files(spec: WrapSpec, root: Path) -> WrapSpec:
    import dataclasses

    def read_lines(name: str, where: str) -> list[str]:
        try:
            return [line.strip() for line in (root / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {root / name}: {exc.strerror or exc}") from exc

    def fix_signature(sig: SignatureSection, where: str) -> SignatureSection:
        outputs = tuple(dataclasses.replace(o, labels=tuple(read_lines(o.labels_file, f"{where}outputs[{i}].labels_file")),
                                            labels_file=None) if o.labels_file else o
                        for i, o in enumerate(sig.outputs))
        inputs = []
        for i, item in enumerate(sig.inputs):
            pre = dict(item.preprocess)
            if "vocabulary_file" in pre:
                pre["vocabulary"] = read_lines(str(pre.pop("vocabulary_file")), f"{where}inputs[{i}].preprocess")
            inputs.append(dataclasses.replace(item, preprocess=pre))
        return dataclasses.replace(sig, inputs=tuple(inputs), outputs=outputs)

    if spec.signatures:
        return dataclasses.replace(spec, signatures=tuple(fix_signature(s, f"signatures[{i}].")
                                                          for i, s in enumerate(spec.signatures)))
    flat = fix_signature(spec.all_signatures[0], "")
    return dataclasses.replace(spec, inputs=flat.inputs, outputs=flat.outputs)
