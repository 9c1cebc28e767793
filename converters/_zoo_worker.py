"""Builds and converts the test zoo's models, run in a child process by :mod:`converters.zoo`.

Protocol like :mod:`converters._convert_worker`: ``python -m converters._zoo_worker JOB.json``; the
job names an output folder, the models to build and a seed. Before each model the worker appends
its name to ``progress.txt`` (so a converter crash names the model), then writes
``<name>.tflite``; it writes ``versions.json`` first. What each model is lives in
:mod:`converters._zoo_specs`, shared with the parent.

The models are plain ``tf.Module`` objects with seeded weights, not Keras models: several need what a
Keras model does not give (a composite op, a resource variable, two signatures, a TF1 graph), and a
``tf.Variable`` the graph never assigns is frozen into a constant by the converter.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from converters._convert_worker import _versions
from converters._zoo_specs import (
    CLASSIFIER_LABELS,
    DETECTOR,
    FEATURE_WINDOW,
    NO_SIGNATURE_LABELS,
    STATE_DECAY,
    STATEFUL_LABELS,
    TEXT_LENGTH,
    TEXT_VOCABULARY,
    detector_anchors,
)

Built = bytes  # a TFLite flatbuffer


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out_dir = Path(job["out_dir"])
    import keras
    import tensorflow as tf

    (out_dir / "versions.json").write_text(json.dumps(_versions(tf, keras)))
    for name in job["models"]:
        with (out_dir / "progress.txt").open("a") as progress:
            progress.write(name + "\n")
        tf.keras.utils.set_random_seed(job["seed"])
        rng = np.random.default_rng(job["seed"])
        (out_dir / f"{name}.tflite").write_bytes(BUILDERS[name](tf, rng, out_dir / f"{name}_saved_model"))
    return 0


def _weights(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """He-style normal weights: activations keep a useful range through a few layers."""
    fan_in = int(np.prod(shape[:-1]))
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)


def _conv_kernels(tf: Any, rng: np.random.Generator, channels: list[int], prefix: str) -> list[Any]:
    """Seeded 3x3 conv kernels, ``channels`` per layer; a list attribute, so the module tracks them."""
    pairs = itertools.pairwise(channels)
    return [tf.Variable(_weights(rng, 3, 3, c_in, c_out), name=f"{prefix}_conv{i}") for i, (c_in, c_out) in enumerate(pairs)]


def _convs(tf: Any, x: Any, kernels: list[Any], stride: int = 2) -> Any:
    """The conv stack: ``stride`` (2: each layer halves the size), SAME padding, ReLU."""
    for kernel in kernels:
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, stride, "SAME"))
    return x


def _from_saved_model(tf: Any, module: Any, path: Path, signatures: dict[str, Any]) -> Any:
    tf.saved_model.save(module, str(path), signatures=signatures)
    return tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=list(signatures))


def build_detector(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    """SSD-style: two heads on a 4x4 grid, then the composite op TFLite_Detection_PostProcess.

    The backbone costs what a small real detector does (about 1.2 ms an invoke on the 2-core
    x86 host, XNNPACK) with few weights: the compute comes from resolution, two stride-1 convs
    at the full 128x128, not from channels (16 throughout, about 70 KB in all). A test fixture
    that invokes in microseconds would make bench-models measure the frame path, not the runtime.

    The composite follows TF Object Detection API's export_tflite_graph_lib_tf2.py: an empty
    tf.function whose ``experimental_implements`` string carries the op's attributes; the converter
    (prepare_composite_functions_tf / nms_utils.cc) replaces its body by the custom op and writes
    the attributes as flexbuffer options. Its result types become the output shapes.
    """
    spec = DETECTOR
    anchors = detector_anchors()
    per_cell, classes = len(spec["anchor_sizes"]), len(spec["labels"])
    m, size = spec["max_detections"], spec["input_size"]
    halvings = (size // spec["grid"]).bit_length() - 1  # stride-2 convs from the input down to the grid
    if spec["grid"] << halvings != size:
        raise ValueError(f"input_size must be grid * 2**n. Got: input_size={size}, grid={spec['grid']}")
    attrs = [
        ("max_detections", "i", m),
        ("max_classes_per_detection", "i", 1),
        ("use_regular_nms", "b", "false"),
        ("nms_score_threshold", "f", spec["nms_score_threshold"]),
        ("nms_iou_threshold", "f", spec["nms_iou_threshold"]),
        ("num_classes", "i", classes),
        *((key, "f", spec[key]) for key in ("y_scale", "x_scale", "h_scale", "w_scale")),
    ]
    implements = " ".join(
        ['name: "TFLite_Detection_PostProcess"'] + [f'attr {{ key: "{k}" value {{ {t}: {v} }} }}' for k, t, v in attrs]
    )

    @tf.function(experimental_implements=implements)
    def postprocess(box_encodings: Any, class_predictions: Any, anchor_boxes: Any) -> Any:
        # The body is replaced by the custom op; only the result shapes matter.
        return tf.zeros([1, m, 4]), tf.zeros([1, m]), tf.zeros([1, m]), tf.zeros([1])

    class Detector(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = _conv_kernels(tf, rng, [3, 16, 16], "stem")  # stride 1, at 128x128
            self.backbone = _conv_kernels(tf, rng, [16] * (1 + halvings), "backbone")  # 128 -> 4
            self.box_head = tf.Variable(_weights(rng, 3, 3, 16, per_cell * 4) * 0.5, name="box_head")
            self.class_head = tf.Variable(_weights(rng, 3, 3, 16, per_cell * (classes + 1)), name="class_head")

        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
        def serve(self, image: Any) -> dict[str, Any]:
            features = _convs(tf, _convs(tf, image, self.stem, stride=1), self.backbone)
            # tanh keeps the encodings in [-1, 1], so decoded boxes stay inside the image (see spec).
            box_encodings = tf.reshape(tf.tanh(tf.nn.conv2d(features, self.box_head, 1, "SAME")),
                                       [1, len(anchors), 4], name="box_encodings")
            logits = tf.nn.conv2d(features, self.class_head, 1, "SAME")
            class_predictions = tf.reshape(tf.sigmoid(logits), [1, len(anchors), classes + 1], name="class_predictions")
            boxes, labels, scores, count = postprocess(box_encodings, class_predictions,
                                                       tf.constant(anchors, name="anchors"))
            return {"boxes": boxes, "classes": labels, "scores": scores, "num_detections": count}

    module = Detector()
    converter = _from_saved_model(tf, module, path, {"serving_default": module.serve})
    converter.allow_custom_ops = True  # the op is a custom op every TFLite runtime registers as builtin
    return converter.convert()


def build_segmenter(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    class Segmenter(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = _conv_kernels(tf, rng, [3, 8, 16], "encoder")  # 64 -> 16
            self.classifier = tf.Variable(_weights(rng, 1, 1, 16, 3), name="classifier")

        @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="image")])
        def serve(self, image: Any) -> dict[str, Any]:
            logits = tf.nn.conv2d(_convs(tf, image, self.encoder), self.classifier, 1, "SAME")
            logits = tf.image.resize(logits, [64, 64], method="bilinear")
            return {"mask": tf.nn.softmax(logits, axis=-1)}

    module = Segmenter()
    return _from_saved_model(tf, module, path, {"serving_default": module.serve}).convert()


def build_embedder(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    class Embedder(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = _conv_kernels(tf, rng, [3, 8, 16, 32], "encoder")  # 64 -> 8
            self.projection = tf.Variable(_weights(rng, 32, 64), name="projection")

        @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="image")])
        def serve(self, image: Any) -> dict[str, Any]:
            pooled = tf.reduce_mean(_convs(tf, image, self.encoder), axis=[1, 2])
            return {"embedding": tf.math.l2_normalize(tf.matmul(pooled, self.projection), axis=-1)}

    module = Embedder()
    return _from_saved_model(tf, module, path, {"serving_default": module.serve}).convert()


def _stateful_calibration(rng: np.random.Generator) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    samples = rng.uniform(-1.0, 1.0, (64, *FEATURE_WINDOW)).astype(np.float32)
    samples[0].flat[0], samples[0].flat[1] = -1.0, 1.0  # the input range is exactly [-1, 1]

    def representative() -> Iterator[dict[str, np.ndarray]]:
        for sample in samples:
            yield {"features": sample[None]}

    return representative


def build_stateful(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    """An audio-style streaming classifier: the state is an EMA of the feature window, a resource variable."""

    class Streaming(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ema = tf.Variable(tf.zeros([1, *FEATURE_WINDOW]), name="feature_ema", trainable=False)
            size = int(np.prod(FEATURE_WINDOW))
            self.hidden = tf.Variable(_weights(rng, size, 16), name="hidden")
            self.logits = tf.Variable(_weights(rng, 16, len(STATEFUL_LABELS)), name="logits")

        @tf.function(input_signature=[tf.TensorSpec([1, *FEATURE_WINDOW], tf.float32, name="features")])
        def serve(self, features: Any) -> dict[str, Any]:
            ema = STATE_DECAY * self.ema + (1.0 - STATE_DECAY) * features
            self.ema.assign(ema)
            hidden = tf.nn.relu(tf.matmul(tf.reshape(ema, [1, -1]), self.hidden))
            return {"scores": tf.nn.softmax(tf.matmul(hidden, self.logits))}

    module = Streaming()
    converter = _from_saved_model(tf, module, path, {"serving_default": module.serve})
    converter.experimental_enable_resource_variables = True
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _stateful_calibration(rng)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.uint8
    # Without it the variable stays float (READ/ASSIGN_VARIABLE in float, a QUANTIZE/DEQUANTIZE
    # pair around them); with it the state is int8 too and no op computes in float (measured).
    converter._experimental_variable_quantization = True
    return converter.convert()


def build_classifier(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    class Classifier(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = _conv_kernels(tf, rng, [3, 8, 16], "encoder")
            self.logits = tf.Variable(_weights(rng, 16, len(CLASSIFIER_LABELS)), name="logits")

        @tf.function(input_signature=[tf.TensorSpec([1, 64, 64, 3], tf.float32, name="image")])
        def serve(self, image: Any) -> dict[str, Any]:
            pooled = tf.reduce_mean(_convs(tf, image, self.encoder), axis=[1, 2])
            return {"probabilities": tf.nn.softmax(tf.matmul(pooled, self.logits))}

    module = Classifier()
    # The parent (converters.zoo) adds the metadata and the labels zip.
    return _from_saved_model(tf, module, path, {"serving_default": module.serve}).convert()


def build_no_signature(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    """A TF1-style graph converted from a session: no SignatureDef, tensors named by the graph."""
    kernel = _weights(rng, 3, 3, 3, 8)
    dense = _weights(rng, 8, len(NO_SIGNATURE_LABELS))
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [1, 32, 32, 3], name="image")
        features = tf.nn.relu(tf.nn.conv2d(image, kernel, 2, "SAME"))
        logits = tf.matmul(tf.reduce_mean(features, axis=[1, 2]), dense)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        with tf.compat.v1.Session(graph=graph) as session:
            converter = tf.compat.v1.lite.TFLiteConverter.from_session(session, [image], [probabilities])
            return converter.convert()


def build_two_signatures(tf: Any, rng: np.random.Generator, path: Path) -> Built:
    """CLIP-style: an image tower and a text tower into one 32-d space, one signature each."""

    class TwoTowers(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = _conv_kernels(tf, rng, [3, 8, 16], "image")
            self.image_projection = tf.Variable(_weights(rng, 16, 32), name="image_projection")
            self.token_embedding = tf.Variable(rng.normal(0, 1, (TEXT_VOCABULARY, 16)).astype(np.float32),
                                               name="token_embedding")
            self.text_projection = tf.Variable(_weights(rng, 16, 32), name="text_projection")

        @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32, name="image")])
        def embed_image(self, image: Any) -> dict[str, Any]:
            pooled = tf.reduce_mean(_convs(tf, image, self.image_encoder), axis=[1, 2])
            return {"embedding": tf.math.l2_normalize(tf.matmul(pooled, self.image_projection), axis=-1)}

        @tf.function(input_signature=[tf.TensorSpec([1, TEXT_LENGTH], tf.int32, name="token_ids")])
        def embed_text(self, token_ids: Any) -> dict[str, Any]:
            pooled = tf.reduce_mean(tf.gather(self.token_embedding, token_ids), axis=1)
            return {"embedding": tf.math.l2_normalize(tf.matmul(pooled, self.text_projection), axis=-1)}

    module = TwoTowers()
    signatures = {"embed_image": module.embed_image, "embed_text": module.embed_text}
    return _from_saved_model(tf, module, path, signatures).convert()


BUILDERS: dict[str, Callable[[Any, np.random.Generator, Path], Built]] = {
    "detector_postprocess": build_detector,
    "segmenter": build_segmenter,
    "embedder": build_embedder,
    "stateful_int8": build_stateful,
    "classifier_with_metadata": build_classifier,
    "no_signature": build_no_signature,
    "two_signatures": build_two_signatures,
}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
