"""Converts the two towers into one TFLite model with two signatures, in a child process.

Protocol like :mod:`converters._convert_worker` (and run by the same :func:`converters.convert._run_worker`,
so a converter crash becomes a ConversionError naming the mode): ``python -m
converters.retrieval._export_worker JOB.json``; the job names the two saved inference towers, the
modes, an output folder and an optional ``.npz`` of calibration tensors (``image``, ``text``).
Writes ``versions.json``, then per mode a line in ``progress.txt`` and ``<mode>.tflite``.
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

from converters._convert_worker import _configure, _versions

SIGNATURES = {"embed_image": "image", "embed_text": "text"}  # signature key -> its one input


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out_dir = Path(job["out_dir"])
    import keras
    import tensorflow as tf

    (out_dir / "versions.json").write_text(json.dumps(_versions(tf, keras)))
    towers = {key: keras.models.load_model(job["models"][key], compile=False) for key in SIGNATURES}
    calibration = dict(np.load(job["calibration_path"])) if job.get("calibration_path") else None
    with tempfile.TemporaryDirectory(dir=out_dir) as saved_model_dir:
        # ExportArchive freezes the weights (see converters._convert_worker); one endpoint per tower.
        archive = keras.export.ExportArchive()
        for key, tower in towers.items():
            archive.track(tower)
            spec = tower.inputs[0]
            signature = [tf.TensorSpec(tuple(spec.shape), tf.as_dtype(spec.dtype), name=SIGNATURES[key])]
            archive.add_endpoint(key, _endpoint(tower), input_signature=signature)
        archive.write_out(saved_model_dir, verbose=False)
        for mode in job["modes"]:
            with (out_dir / "progress.txt").open("a") as progress:
                progress.write(mode + "\n")
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(SIGNATURES))
            _configure(tf, converter, mode, calibration)
            if calibration is not None and converter.representative_dataset is not None:
                converter.representative_dataset = lambda: _representative(calibration)
            (out_dir / f"{mode}.tflite").write_bytes(converter.convert())
    return 0


def _endpoint(tower: Any) -> Any:
    def serve(tensor: Any) -> dict[str, Any]:
        return {"embedding": tower(tensor, training=False)}

    return serve


def _representative(calibration: dict[str, np.ndarray]) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    # A model with several signatures is calibrated with (signature key, inputs) samples.
    for key, name in SIGNATURES.items():
        values = calibration[name]
        for index in range(len(values)):
            yield key, {name: values[index:index + 1]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
