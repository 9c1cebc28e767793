"""Converts a captioner's encoder and decoder step into one TFLite model with two signatures, in a child process.

Protocol like :mod:`converters.retrieval._export_worker` (run by :func:`converters.convert._run_worker`,
so a converter crash becomes a ConversionError naming the mode): ``python -m
converters.captioning._export_worker JOB.json``; the job names the saved captioner (weights and
``captioner.json``), the modes, an output folder and an optional ``.npz`` of calibration tensors
(``encode/<input>`` and ``decode_step/<input>`` samples). The batch-1, RNN-unrolled models are
rebuilt here from the spec and loaded with the trained weights. Writes ``versions.json``, then
per mode a line in ``progress.txt`` and ``<mode>.tflite``.
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

SIGNATURES = ("encode", "decode_step")


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out_dir = Path(job["out_dir"])
    import keras
    import tensorflow as tf

    from converters.captioning.train import TrainedCaptioner

    (out_dir / "versions.json").write_text(json.dumps(_versions(tf, keras)))
    trained = TrainedCaptioner.load(job["captioner"], batch_size=1, unroll=True)
    models = {"encode": trained.encoder, "decode_step": trained.step}
    calibration = dict(np.load(job["calibration_path"])) if job.get("calibration_path") else None
    with tempfile.TemporaryDirectory(dir=out_dir) as saved_model_dir:
        # ExportArchive freezes the weights (see converters._convert_worker); one endpoint per graph.
        archive = keras.export.ExportArchive()
        for key, model in models.items():
            archive.track(model)
            names = list(model.input.keys())  # functional models with dict inputs keep their names
            signature = [tf.TensorSpec(tuple(model.input[n].shape), tf.as_dtype(model.input[n].dtype), name=n)
                         for n in names]
            archive.add_endpoint(key, _endpoint(model, names), input_signature=signature)
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


def _endpoint(model: Any, names: list[str]) -> Any:
    def serve(*tensors: Any) -> dict[str, Any]:
        return dict(model(dict(zip(names, tensors, strict=True)), training=False))

    return serve


def _representative(calibration: dict[str, np.ndarray]) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    # A model with several signatures is calibrated with (signature key, inputs) samples.
    for key in SIGNATURES:
        inputs = {name.split("/", 1)[1]: values for name, values in calibration.items() if name.startswith(key + "/")}
        for index in range(len(next(iter(inputs.values())))):
            yield key, {name: values[index:index + 1] for name, values in inputs.items()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
