"""Fitting the preprocessing on the training split only, and turning rows into tensors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from converters.dataset import (
    Dataset,
    RawSample,
    fit_preprocessing,
    make_tensors,
    prepare_dataset,
    raw_samples,
)
from converters.errors import DataError
from converters.manifest import ColumnMap, load_manifest
from converters.split import split_rows
from edge_sdk.demo.seek import LABELS
from edge_sdk.preprocess import ImageSpec, normalize_image, prepare_image


@pytest.fixture(scope="module")
def dataset(seek_manifest: Path) -> Dataset:
    return prepare_dataset(str(seek_manifest), labels=LABELS, seed=0)


def test_sensor_normalization_is_fitted_on_train_only(dataset: Dataset) -> None:
    frame = dataset.manifest.frame
    train = frame.loc[dataset.split.train, "sensor/distance_cm"].to_numpy()
    everything = frame["sensor/distance_cm"].to_numpy()
    (channel,) = dataset.preprocessing.sensor.channels  # type: ignore[union-attr]
    assert (channel.name, channel.unit) == ("distance_cm", "cm")
    assert channel.mean == pytest.approx(train.mean(), abs=0) and channel.std == pytest.approx(
        train.std(), abs=0
    )
    assert channel.mean != everything.mean()


def test_vocabulary_is_fitted_on_train_only(seek_manifest: Path, tmp_path: Path) -> None:
    table = pd.read_csv(seek_manifest)
    table["image"] = [str(seek_manifest.parent / name) for name in table["image"]]  # absolute paths work too
    manifest_path = tmp_path / "vocab_test.csv"
    split = split_rows(load_manifest(seek_manifest), seed=0)
    held_out = int(split.test[0])
    table.loc[held_out, "text"] = "find the purple circle"
    table.to_csv(manifest_path, index=False)
    dataset = prepare_dataset(str(manifest_path), seed=0)
    assert held_out in dataset.split.test
    vocabulary = dataset.preprocessing.text.vocabulary  # type: ignore[union-attr]
    assert "purple" not in vocabulary and "circle" in vocabulary
    test = dataset.tensors("test")
    position = int(np.flatnonzero(test.rows == held_out)[0])
    assert 1 in test.inputs["text"][position]  # out-of-vocabulary id


def test_labels_follow_the_declared_order(dataset: Dataset, seek_manifest: Path) -> None:
    assert dataset.preprocessing.labels == LABELS
    manifest = load_manifest(seek_manifest)
    assert fit_preprocessing(manifest, manifest.rows).labels == tuple(sorted(LABELS))


def test_declared_labels_must_cover_training_labels(seek_manifest: Path) -> None:
    manifest = load_manifest(seek_manifest)
    with pytest.raises(
        DataError, match=r"row \d+, column 'label': unknown label\. Expected one of .*Got: 'blocked'"
    ):
        fit_preprocessing(manifest, manifest.rows, labels=("left", "center", "right", "absent"))


def test_text_length_defaults_to_the_longest_training_text_capped(dataset: Dataset) -> None:
    assert dataset.preprocessing.text.max_length == 5  # type: ignore[union-attr]  # "look for the red circle"
    manifest = dataset.manifest
    assert fit_preprocessing(manifest, manifest.rows, text_length_cap=3).text.max_length == 3  # type: ignore[union-attr]
    assert fit_preprocessing(manifest, manifest.rows, max_text_length=9).text.max_length == 9  # type: ignore[union-attr]


def test_image_spec_takes_raw_pixels_at_the_images_size(dataset: Dataset) -> None:
    spec = dataset.preprocessing.image
    assert spec == ImageSpec(width=64, height=64)
    assert spec is not None and spec.is_identity_normalization and spec.color_order == "RGB"


def test_tensors_shapes_dtypes_and_rows(dataset: Dataset) -> None:
    train = dataset.tensors("train")
    n = len(dataset.split.train)
    assert len(train) == n and np.array_equal(train.rows, dataset.split.train)
    assert train.inputs["image"].shape == (n, 64, 64, 3) and train.inputs["image"].dtype == np.uint8
    assert train.inputs["text"].shape == (n, 5) and train.inputs["text"].dtype == np.int32
    assert train.inputs["sensor"].shape == (n, 1) and train.inputs["sensor"].dtype == np.float32
    assert train.labels.dtype == np.int32
    expected = [LABELS.index(label) for label in dataset.manifest.frame.loc[train.rows, "label"]]
    assert train.labels.tolist() == expected
    # standardised on train: mean 0, std 1 (float32 rounding aside)
    assert (
        abs(float(train.inputs["sensor"].mean())) < 1e-5
        and abs(float(train.inputs["sensor"].std()) - 1) < 1e-5
    )


def test_tensors_are_the_same_with_one_or_many_threads(dataset: Dataset) -> None:
    one, many = dataset.tensors("val", workers=1), dataset.tensors("val", workers=4)
    for name in one.inputs:
        assert np.array_equal(one.inputs[name], many.inputs[name])


def test_take_selects_positions(dataset: Dataset) -> None:
    val = dataset.tensors("val")
    picked = val.take([2, 0])
    assert picked.rows.tolist() == [val.rows[2], val.rows[0]]
    assert np.array_equal(picked.inputs["image"][1], val.inputs["image"][0])


def test_label_never_seen_in_training_fails_at_conversion(seek_manifest: Path) -> None:
    manifest = load_manifest(seek_manifest)
    seen = manifest.rows[manifest.labels != "blocked"]
    preprocessing = fit_preprocessing(manifest, seen)
    assert "blocked" not in preprocessing.labels
    first_blocked = int(manifest.rows[manifest.labels == "blocked"][0])
    with pytest.raises(
        DataError,
        match=rf"manifest\.csv row {first_blocked}, column 'label': "
        r"label 'blocked' was never seen in training\. "
        r"Expected one of \['absent', 'center', 'left', 'right'\]",
    ):
        make_tensors(manifest, manifest.rows, preprocessing)


def test_rows_that_are_not_in_the_manifest_are_refused(dataset: Dataset) -> None:
    with pytest.raises(DataError, match=r"no usable row 300 \(not in the file, or dropped by cleaning\)"):
        make_tensors(dataset.manifest, [0, 300], dataset.preprocessing)


def test_model_input_without_a_column_is_refused(dataset: Dataset, seek_manifest: Path) -> None:
    no_text = load_manifest(seek_manifest, ColumnMap(text=None))
    with pytest.raises(DataError, match="the model has a text input but the ColumnMap names no text column"):
        make_tensors(no_text, [0], dataset.preprocessing)


def test_subset_of_modalities(seek_manifest: Path) -> None:
    manifest = load_manifest(seek_manifest, ColumnMap(image=None, sensors=(), sensor_units=()))
    preprocessing = fit_preprocessing(manifest, manifest.rows)
    assert preprocessing.modalities == ("text",)
    assert set(make_tensors(manifest, [0, 1], preprocessing).inputs) == {"text"}


def test_resized_and_normalised_image_spec_gives_float32(dataset: Dataset) -> None:
    spec = ImageSpec(
        width=40, height=32, resize="letterbox", color_order="BGR", mean=(10, 20, 30), std=(2, 4, 8)
    )
    manifest = dataset.manifest
    preprocessing = fit_preprocessing(manifest, dataset.split.train, labels=LABELS, image_spec=spec)
    images = make_tensors(manifest, [5], preprocessing).inputs["image"]
    assert images.shape == (1, 32, 40, 3) and images.dtype == np.float32
    frame = cv2.imread(str(manifest.frame.loc[5, "image"]))
    assert frame is not None
    assert np.array_equal(images[0], normalize_image(prepare_image(frame, spec, "BGR"), spec))


def test_raw_samples_are_what_a_device_receives(dataset: Dataset) -> None:
    samples = raw_samples(dataset.manifest, [3, 1])
    assert [s.row for s in samples] == [3, 1]
    table = pd.read_csv(dataset.manifest.source, dtype=str)
    sample = samples[0]
    assert isinstance(sample, RawSample)
    expected = cv2.imread(str(dataset.manifest.source.parent / table.loc[3, "image"]))
    assert sample.image_bgr is not None and expected is not None
    assert np.array_equal(sample.image_bgr, expected)
    assert sample.text == table.loc[3, "text"] and sample.label == table.loc[3, "label"]
    assert sample.sensor == {"distance_cm": float(table.loc[3, "distance_cm"])}
    assert "image_bgr" not in repr(sample)  # reprs stay readable
    assert [s.row for s in dataset.samples("test", limit=2)] == dataset.split.test[:2].tolist()


def test_an_empty_part_gives_empty_tensors_of_the_right_shapes(seek_manifest: Path) -> None:
    dataset = prepare_dataset(seek_manifest, labels=LABELS, val_fraction=0.0, test_fraction=0.1)
    val = dataset.tensors("val")
    assert len(val) == 0
    assert val.inputs["image"].shape == (0, 64, 64, 3)
    assert val.inputs["text"].shape == (0, 5) and val.inputs["sensor"].shape == (0, 1)


def test_data_modules_do_not_import_tensorflow() -> None:
    code = "import sys, converters.dataset; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
