"""Tiny real seek models shared by the conversion, validation and bundle tests (no tests here).

Everything expensive is cached per process, so each model is trained once and each mode converted
once however many test modules use them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_sdk.demo.seek import LABELS, render_scene, sample_scene
from edge_sdk.preprocess import ImageSpec, SensorSpec, Tokenizer

IMAGE_SIZE = 32
MAX_LENGTH = 6


@dataclass(frozen=True)
class Samples:
    """Raw samples (as the device sees them) and their tensors."""

    images_bgr: list[np.ndarray]
    texts: list[str]
    sensors: list[dict[str, float]]
    labels: np.ndarray  # class indices
    tensors: dict[str, np.ndarray]


@functools.cache
def seek_data(train: int = 240, held_out: int = 160, seed: int = 7) -> tuple[Any, Samples, Samples]:
    """(Preprocessing, train samples, held-out samples) from the seek world, via the device code."""
    from converters.preprocessing import Preprocessing

    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(train + held_out)]
    images = [np.ascontiguousarray(render_scene(s, size=IMAGE_SIZE)[:, :, ::-1]) for s in scenes]
    texts = [s.text for s in scenes]
    sensors = [{"distance_cm": float(s.distance_cm)} for s in scenes]
    labels = np.array([LABELS.index(s.label) for s in scenes])
    preprocessing = Preprocessing(
        labels=LABELS,
        image=ImageSpec(width=IMAGE_SIZE, height=IMAGE_SIZE),
        text=Tokenizer.fit(texts[:train], max_length=MAX_LENGTH).spec,
        sensor=SensorSpec.fit({"distance_cm": [s["distance_cm"] for s in sensors[:train]]}, units={"distance_cm": "cm"}),
    )

    def part(lo: int, hi: int) -> Samples:
        return Samples(
            images[lo:hi], texts[lo:hi], sensors[lo:hi], labels[lo:hi],
            preprocessing.tensors(images[lo:hi], texts[lo:hi], sensors[lo:hi]),
        )

    return preprocessing, part(0, train), part(train, train + held_out)


@functools.cache
def tiny_model(fusion: str = "attention", rnn: str = "lstm", epochs: int = 3) -> tuple[Any, Any, Any]:
    """(training model, inference copy, spec) of a tiny fusion model, trained a few epochs."""
    import keras

    from converters.models import ModelShapes, build_model, inference_copy
    from converters.spec import ModelSpec

    preprocessing, train, _ = seek_data()
    keras.utils.set_random_seed(0)
    spec = ModelSpec(
        fusion=fusion, rnn=rnn, cnn_stem_filters=8, cnn_stem_kernel=4, cnn_stem_stride=4, cnn_filters=(8, 8),
        cnn_strides=(1, 1),
        embedding_dim=8, rnn_units=8, sensor_units=4, fusion_dim=8, head_units=8, dropout=0.0,
    )
    shapes = ModelShapes(
        image_size=(IMAGE_SIZE, IMAGE_SIZE), vocab_size=len(preprocessing.text.vocabulary),
        max_length=MAX_LENGTH, sensor_channels=1, num_classes=len(LABELS),
    )
    model = build_model(spec, shapes)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    if epochs:
        model.fit(train.tensors, train.labels, batch_size=32, epochs=epochs, verbose=0)
    return model, inference_copy(model, spec, shapes), spec


@functools.cache
def converted(fusion: str = "attention", rnn: str = "lstm", modes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every requested mode of a tiny model, converted once in one child process."""
    from converters.convert import MODES, convert_modes

    _, train, _ = seek_data()
    _, inference, _ = tiny_model(fusion, rnn)
    results = convert_modes(inference, modes or MODES, calibration=train.tensors)
    _debug_dump(results)
    return results


def _debug_dump(results: dict[str, Any]) -> None:
    import os

    target = os.environ.get("EDGE_SDK_TEST_DUMP")
    if target:
        for mode, result in results.items():
            with open(f"{target}/{mode}.tflite", "wb") as handle:
                handle.write(result.tflite)
