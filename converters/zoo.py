"""A small zoo of real TFLite models for the tests, built with TensorFlow's converter.

    python -m converters.zoo tests/fixtures/zoo      # or: make zoo

Seven small models, each a different shape of "a model someone hands the SDK": an SSD-style detector
ending in ``TFLite_Detection_PostProcess`` (128x128, with a small real detector's cost of about 1.2 ms
an invoke, so a bench of the runtime around it measures the runtime, not the frame path), a segmenter, an embedder, a fully int8 streaming model
with a resource variable (int8 in, uint8 out), a classifier with TFLite metadata and a labels zip
appended, a TF1-style model with no SignatureDef, and a model with two signatures. Weights are
seeded; what each model is (task, labels, anchors, box coder) comes from
:mod:`converters._zoo_specs`. The conversions run in one child process
(:mod:`converters._zoo_worker`, through :func:`converters.convert._run_worker`): the converter
can crash, and a crash should name the model, not take the caller down.

``zoo.json`` describes every file: size, sha256, the tensor contract read back by ai-edge-litert
(signatures, names, shapes, dtypes, quantization), ops, task and task parameters, versions.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from converters._zoo_specs import CLASSIFIER_LABELS, model_specs
from converters.convert import _run_worker
from converters.tflite_inspect import inspect_ops
from converters.tflite_metadata import (
    TensorMeta,
    add_metadata,
    append_associated_files,
    classifier_metadata,
)

__all__ = ["FORMAT", "MODELS", "ZooEntry", "build_zoo", "describe_tflite", "main"]

FORMAT = "edge_sdk.zoo/1"
MODELS: tuple[str, ...] = tuple(model_specs())
NO_SIGNATURE = ""  # the key under which a model without SignatureDefs lists its subgraph's inputs/outputs


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: its file and what it is."""

    name: str
    file: str
    task: str
    description: str
    size_bytes: int
    sha256: str
    signatures: dict[str, dict[str, list[dict[str, Any]]]]  # key -> {"inputs": [...], "outputs": [...]}
    ops: dict[str, int]
    custom_ops: list[str]
    task_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_zoo(out_dir: Path, models: Sequence[str] = MODELS, seed: int = 0, timeout_s: float = 600.0) -> list[ZooEntry]:
    """Build ``models`` into ``out_dir`` (``<name>.tflite`` each, plus ``zoo.json``) and describe them."""
    unknown = [name for name in models if name not in MODELS]
    if unknown or not models:
        raise ValueError(f"models must be a non-empty subset of {list(MODELS)}. Got: {list(models)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = model_specs()
    with tempfile.TemporaryDirectory(prefix="edge_sdk_zoo_") as tmp:
        work = Path(tmp)
        job = work / "job.json"
        job.write_text(json.dumps({"out_dir": str(work), "models": list(models), "seed": seed}))
        argv = [sys.executable, "-m", "converters._zoo_worker", str(job)]
        _run_worker(job, work, timeout_s, argv=argv, stage="zoo model")
        versions = json.loads((work / "versions.json").read_text())
        flatbuffers = {name: (work / f"{name}.tflite").read_bytes() for name in models}
    entries = []
    for name in models:
        flatbuffer = flatbuffers[name]
        if name == "classifier_with_metadata":
            flatbuffer = _with_metadata(flatbuffer, versions["tensorflow"])
        path = out_dir / f"{name}.tflite"
        path.write_bytes(flatbuffer)
        op_set = inspect_ops(flatbuffer)
        spec = specs[name]
        entries.append(ZooEntry(
            name=name,
            file=path.name,
            task=spec["task"],
            description=spec["description"],
            size_bytes=len(flatbuffer),
            sha256=hashlib.sha256(flatbuffer).hexdigest(),
            signatures=describe_tflite(flatbuffer),
            ops=dict(sorted(op_set.op_counts.items())),
            custom_ops=list(op_set.custom_ops),
            task_params=spec["task_params"],
        ))
    _write_index(out_dir, entries, versions, seed)
    return entries


def _with_metadata(flatbuffer: bytes, tf_version: str) -> bytes:
    image = TensorMeta("image", "RGB image, normalized as (pixel - 127.5) / 127.5", -1.0, 1.0, image_size=(64, 64),
                       mean=(127.5,), std=(127.5,))
    output = TensorMeta("probabilities", "Probabilities of the labels in labels.txt", 0.0, 1.0, labels_file="labels.txt")
    metadata = classifier_metadata("edge_sdk zoo classifier", "A tiny image classifier for the SDK's tests",
                                   f"tf-{tf_version}", image, output)
    labels = "".join(f"{label}\n" for label in CLASSIFIER_LABELS).encode()
    return append_associated_files(add_metadata(flatbuffer, metadata), {"labels.txt": labels})


def describe_tflite(flatbuffer: bytes) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """signature key -> inputs and outputs as ai-edge-litert reports them (``""``: no signatures)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    signatures = interpreter.get_signature_list()
    if not signatures:
        interpreter.allocate_tensors()
        return {NO_SIGNATURE: {"inputs": [_tensor(d, d["name"]) for d in interpreter.get_input_details()],
                               "outputs": [_tensor(d, d["name"]) for d in interpreter.get_output_details()]}}
    described = {}
    for key in sorted(signatures):
        runner = interpreter.get_signature_runner(key)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        described[key] = {"inputs": [_tensor(inputs[n], n) for n in sorted(inputs)],
                          "outputs": [_tensor(outputs[n], n) for n in sorted(outputs)]}
    return described


def _tensor(detail: dict[str, Any], name: str) -> dict[str, Any]:
    scale, zero_point = detail["quantization"]
    return {
        "name": name,
        "tensor_name": detail["name"],
        "shape": [int(d) for d in detail["shape_signature"]],
        "dtype": detail["dtype"].__name__,
        "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
    }


def _write_index(out_dir: Path, entries: list[ZooEntry], versions: dict[str, str], seed: int) -> None:
    """Write ``zoo.json``; entries of models not rebuilt this time are kept from the old index."""
    path = out_dir / "zoo.json"
    models = {e.name: e.to_dict() for e in entries}
    if path.exists():
        old = json.loads(path.read_text())
        models = {m["name"]: m for m in old.get("models", []) if m["name"] in MODELS} | models
    ordered = [models[name] for name in MODELS if name in models]
    index = {
        "format": FORMAT,
        "built_with": versions,
        "seed": seed,
        "rebuild": "make zoo  (python -m converters.zoo tests/fixtures/zoo)",
        "total_bytes": sum(m["size_bytes"] for m in ordered),
        "models": ordered,
    }
    path.write_text(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":  # python -m converters.zoo OUT_DIR: the same as edge-sdk build-zoo OUT_DIR
    from edge_sdk.cli import main

    sys.exit(main(["build-zoo", *sys.argv[1:]]))
