"""Train/serve parity: training tensors equal, bit for bit, what the device makes from the same rows.

The device side is built the way a runtime does it: the specs come back from the bundle's JSON, the
image from the file's bytes through OpenCV as a camera frame (BGR), the sensor reading as a float
parsed from the manifest's text, and each modality through ``edge_sdk.preprocess`` one sample at a
time.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from converters.dataset import Dataset, fit_preprocessing, make_tensors, prepare_dataset
from converters.preprocessing import Preprocessing
from edge_sdk.demo.seek import LABELS
from edge_sdk.preprocess import (
    ImageSpec,
    Tokenizer,
    normalize_image,
    prepare_image,
    scale_sensor,
)


@pytest.fixture(scope="module")
def dataset(seek_manifest: Path) -> Dataset:
    return prepare_dataset(seek_manifest, labels=LABELS, seed=0)


def _as_shipped(preprocessing: Preprocessing) -> Preprocessing:
    """The preprocessing as the device reads it back from a bundle manifest."""
    return Preprocessing.from_dict(json.loads(json.dumps(preprocessing.to_dict())))


def _device_tensors(manifest_path: Path, rows: list[int], shipped: Preprocessing) -> dict[str, np.ndarray]:
    table = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    assert shipped.image is not None and shipped.text is not None and shipped.sensor is not None
    tokenizer = Tokenizer(shipped.text)
    images, texts, sensors = [], [], []
    for row in rows:
        data = np.fromfile(manifest_path.parent / table.loc[row, "image"], dtype=np.uint8)
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert frame is not None
        images.append(normalize_image(prepare_image(frame, shipped.image, color_order="BGR"), shipped.image))
        texts.append(tokenizer.encode(table.loc[row, "text"]))
        sensors.append(scale_sensor({"distance_cm": float(table.loc[row, "distance_cm"])}, shipped.sensor))
    return {"image": np.stack(images), "text": np.stack(texts), "sensor": np.stack(sensors)}


def _assert_bit_identical(training: dict[str, np.ndarray], device: dict[str, np.ndarray]) -> None:
    assert set(training) == set(device)
    for name, expected in device.items():
        got = training[name]
        if name == "image" and got.dtype == np.uint8:
            got = got.astype(np.float32)  # what the training step does with uint8 images
        assert got.dtype == expected.dtype, name
        assert got.shape == expected.shape, name
        assert np.array_equal(got, expected), name
        assert got.tobytes() == expected.tobytes(), name  # equal bits, not just equal values


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_training_tensors_equal_device_tensors_bit_for_bit(
    dataset: Dataset, seek_manifest: Path, part: str
) -> None:
    training = dataset.tensors(part)  # type: ignore[arg-type]
    rows = training.rows[:25].tolist()
    device = _device_tensors(seek_manifest, rows, _as_shipped(dataset.preprocessing))
    _assert_bit_identical({k: v[:25] for k, v in training.inputs.items()}, device)


def test_parity_holds_with_resize_colour_swap_and_normalisation(
    dataset: Dataset, seek_manifest: Path
) -> None:
    spec = ImageSpec(
        width=48, height=40, resize="letterbox", color_order="BGR", mean=(127.5,) * 3, std=(58.4, 57.1, 57.4)
    )
    preprocessing = fit_preprocessing(dataset.manifest, dataset.split.train, labels=LABELS, image_spec=spec)
    rows = dataset.split.val[:25].tolist()
    training = make_tensors(dataset.manifest, rows, preprocessing)
    _assert_bit_identical(training.inputs, _device_tensors(seek_manifest, rows, _as_shipped(preprocessing)))


def test_preprocessing_tensors_of_raw_samples_match_training(dataset: Dataset) -> None:
    """The representative dataset and golden vectors (raw samples -> Preprocessing.tensors) match too."""
    samples = dataset.samples("test", limit=10)
    from_raw = dataset.preprocessing.tensors(
        images_bgr=[s.image_bgr for s in samples],  # type: ignore[misc]
        texts=[s.text for s in samples],  # type: ignore[misc]
        sensors=[s.sensor for s in samples],
    )
    training = dataset.tensors("test").take(range(10))
    _assert_bit_identical(training.inputs, from_raw)
