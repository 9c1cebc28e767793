"""The TFLite conversion itself, run in a child process by :mod:`converters.convert`.

The converter can crash the process (full-int8 calibration of a model that keeps a loop RNN
segfaults in TF 2.21), so it never runs in the caller's process. Protocol: ``python -m
converters._convert_worker JOB.json``; the job names a saved ``.keras`` model, an optional ``.npz``
of calibration tensors keyed by input name, the modes, and an output folder. Before each mode the
worker appends the mode to ``progress.txt`` (so the parent can say which mode crashed), then
writes ``<mode>.tflite``; it writes ``versions.json`` first. Exit 0 means every mode was written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out_dir = Path(job["out_dir"])

    import keras
    import tensorflow as tf

    import converters.layers  # noqa: F401  (registers the custom layers for loading)

    (out_dir / "versions.json").write_text(json.dumps(_versions(tf, keras)))
    model = keras.models.load_model(job["model_path"], compile=False)
    signature = [
        tf.TensorSpec(tuple(t.shape), tf.as_dtype(t.dtype), name=t.name.split(":")[0]) for t in model.inputs
    ]
    names = [spec.name for spec in signature]
    output_name = job["output_name"]

    def serve(*tensors: Any) -> dict[str, Any]:
        return {output_name: model(dict(zip(names, tensors)), training=False)}

    calibration = dict(np.load(job["calibration_path"])) if job.get("calibration_path") else None
    with tempfile.TemporaryDirectory(dir=out_dir) as saved_model_dir:
        # ExportArchive freezes the weights; from_concrete_functions on a Keras 3 model leaves them
        # as resource variables that the calibrator cannot read (READ_VARIABLE fails).
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=signature)
        archive.write_out(saved_model_dir, verbose=False)
        for mode in job["modes"]:
            with (out_dir / "progress.txt").open("a") as progress:
                progress.write(mode + "\n")
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
            _configure(tf, converter, mode, calibration)
            (out_dir / f"{mode}.tflite").write_bytes(converter.convert())
    return 0


def _configure(tf: Any, converter: Any, mode: str, calibration: dict[str, np.ndarray] | None) -> None:
    # Select TF ops are allowed here so the parent can name them in its refusal; it inspects the
    # flatbuffer and refuses them unless the caller asked for them.
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.target_spec.supported_ops = builtins
    if mode == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if mode == "dynamic":
        return
    if calibration is None:
        raise ValueError(f"mode {mode!r} needs calibration tensors")
    converter.representative_dataset = lambda: _representative(calibration)
    # INT8 first; plain builtins stay allowed so an op without an int8 kernel falls back to float
    # (the parent reports it) instead of failing the whole conversion.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, *builtins]
    if mode == "int8_io_int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif mode == "int8_io_uint8":
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8


def _representative(calibration: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    # Keyed by signature input name: the converter binds dict samples by name, whatever its order.
    count = len(next(iter(calibration.values())))
    for index in range(count):
        yield {name: values[index : index + 1] for name, values in calibration.items()}


def _versions(tf: Any, keras: Any) -> dict[str, str]:
    from importlib import metadata

    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    try:
        versions["ai_edge_litert"] = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        pass
    return versions


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
