"""Builds the tiny real models tests/backends runs, with TensorFlow: ``python build_models.py OUT_DIR``.

Run in its own process (TensorFlow's and ai-edge-litert's TFLite libraries stay out of each other's way, and
the test process does not carry TensorFlow). Each model is a few kB:

- two_signatures.tflite   ``encode`` (x -> code) and ``decode_step`` (code, bias -> y, total)
- no_signature.tflite     TF1 session conversion: no SignatureDef; tensors input_x -> out_y
- stateful.tflite         ``step`` (x -> total): a tf.Variable accumulator (resource variables)
- custom_op.tflite        MatrixDeterminant kept as a custom op (allow_custom_ops)
- select_tf_op.tflite     MatrixDeterminant as a Select TF op (FlexMatrixDeterminant)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf


class TwoSignatures(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0)

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def encode(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"code": tf.matmul(x, self.w)}

    @tf.function(input_signature=[tf.TensorSpec([1, 3], tf.float32, name="code"), tf.TensorSpec([1, 3], tf.float32, name="bias")])
    def decode_step(self, code: tf.Tensor, bias: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": tf.nn.relu(code - bias), "total": tf.reduce_sum(code, axis=1)}


class Accumulator(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.total = tf.Variable(tf.zeros([1, 2]), name="total")

    @tf.function(input_signature=[tf.TensorSpec([1, 2], tf.float32, name="x")])
    def step(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        self.total.assign_add(x)
        return {"total": self.total.read_value()}


def two_signatures() -> bytes:
    module = TwoSignatures()
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved, signatures={"encode": module.encode, "decode_step": module.decode_step})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["encode", "decode_step"])
        return bytes(converter.convert())


def no_signature() -> bytes:
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="input_x")
        y = tf.identity(tf.nn.relu(x * 2.0 - 1.0), name="out_y")
        with tf.compat.v1.Session(graph=graph) as session:
            return bytes(tf.compat.v1.lite.TFLiteConverter.from_session(session, [x], [y]).convert())


def stateful() -> bytes:
    module = Accumulator()
    with tempfile.TemporaryDirectory() as saved:
        tf.saved_model.save(module, saved, signatures={"step": module.step})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.experimental_enable_resource_variables = True
        return bytes(converter.convert())


@tf.function(input_signature=[tf.TensorSpec([2, 2], tf.float32, name="m")])
def determinant(m: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"det": tf.linalg.det(m)}  # MatrixDeterminant: not a TFLite builtin


def custom_op() -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([determinant.get_concrete_function()], determinant)
    converter.allow_custom_ops = True
    return bytes(converter.convert())


def select_tf_op() -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([determinant.get_concrete_function()], determinant)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return bytes(converter.convert())


MODELS = {
    "two_signatures": two_signatures,
    "no_signature": no_signature,
    "stateful": stateful,
    "custom_op": custom_op,
    "select_tf_op": select_tf_op,
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, build in MODELS.items():
        path = out / f"{name}.tflite"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.write_bytes(build())
            partial.replace(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
