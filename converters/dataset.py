"""From a cleaned manifest to the preprocessing a model is fitted with and its training tensors.

Tensors are made with the device's own code (``edge_sdk.preprocess``): ``read_image`` ->
``prepare_image`` -> ``normalize_image``, ``Tokenizer.encode`` and ``scale_sensor``, one sample at
a time, so a model is trained on exactly the inputs the device will feed it (the parity test in
``tests/converters/test_data_parity.py`` holds this to bit equality).

Images are kept as uint8 when the image spec's normalisation is the identity (our models take raw
0..255 pixels and normalise inside the graph): a quarter of the memory of float32 (16k 64x64
images: 197 MB instead of 786 MB), and casting to float32 in the training step gives exactly what
``normalize_image`` gives on the device, which only casts for the identity spec. A spec with a real
mean/std gets float32 tensors from ``normalize_image`` itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from converters._parallel import parallel_map
from converters.errors import DataError
from converters.fitting import SensorNormalization, TextOptions, fit_sensor, fit_text
from converters.manifest import CleaningPolicy, ColumnMap, Manifest, load_manifest
from converters.preprocessing import Preprocessing
from converters.split import Part, Split, split_rows
from edge_sdk.errors import InputError
from edge_sdk.preprocess import (
    ImageSpec,
    SensorSpec,
    Tokenizer,
    normalize_image,
    prepare_image,
    read_image,
    scale_sensor,
)
from edge_sdk.preprocess.text import split_words

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_TEXT_LENGTH_CAP",
    "Dataset",
    "RawSample",
    "Tensors",
    "fit_preprocessing",
    "make_tensors",
    "prepare_dataset",
    "raw_samples",
]

_log = logging.getLogger(__name__)
DEFAULT_TEXT_LENGTH_CAP = 32  # words; longer prompts are truncated rather than growing the RNN


@dataclass(frozen=True)
class Tensors:
    """Model inputs by name (``image``, ``text``, ``sensor``), label ids and source rows.

    ``inputs["image"]``: (N, H, W, 3) uint8 for an identity image spec (cast to float32 in the
    training step), else float32. ``inputs["text"]``: (N, max_length) int32. ``inputs["sensor"]``:
    (N, channels) float32. ``labels``: (N,) int32 indices into ``Preprocessing.labels``.
    ``rows``: (N,) int64 rows of the source manifest.
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, indices: np.ndarray | Sequence[int]) -> Tensors:
        """The samples at these positions (not source rows), e.g. a batch or a shuffled epoch."""
        index = np.asarray(indices, dtype=np.int64)
        return Tensors({k: v[index] for k, v in self.inputs.items()}, self.labels[index], self.rows[index])


@dataclass(frozen=True)
class RawSample:
    """One row as a device would receive it: a BGR frame, a text, a sensor reading, plus its label."""

    row: int
    image_bgr: np.ndarray | None = field(repr=False)
    text: str | None
    sensor: dict[str, float]
    label: str


def fit_preprocessing(
    manifest: Manifest,
    train_rows: Sequence[int] | np.ndarray,
    labels: Sequence[str] | None = None,
    image_size_px: tuple[int, int] | None = None,
    max_text_length: int | None = None,
    text_length_cap: int = DEFAULT_TEXT_LENGTH_CAP,
    image_spec: ImageSpec | None = None,
    text_options: TextOptions | None = None,
    sensor_normalization: dict[str, SensorNormalization] | None = None,
    modalities: Sequence[str] | None = None,
) -> Preprocessing:
    """Fit the modalities the manifest has (or just ``modalities``) on the training rows only.

    ``labels`` fixes the output order (e.g. ``edge_sdk.demo.seek.LABELS``); by default the training
    labels sorted. ``image_size_px`` is (width, height), by default the first training image's
    size (a training config always states it). Without ``text_options``, ``max_text_length``
    defaults to the longest training text in words, capped at ``text_length_cap``; with them, the
    options decide (see :class:`~converters.fitting.TextOptions`: a percentile of the lengths,
    with a warning counting the texts cut). ``image_spec`` replaces the default raw-pixel spec
    (e.g. for a letterbox resize or a model that wants BGR or normalised pixels); ``image_size_px``
    is then ignored.
    """
    frame = _rows(manifest, train_rows)
    if len(frame) == 0:
        raise DataError(f"{manifest.source}: cannot fit preprocessing on 0 training rows")
    seen = sorted(set(frame["label"]))
    if labels is None:
        label_order = tuple(seen)
    else:
        label_order = tuple(labels)
        unknown = frame[~frame["label"].isin(label_order)]
        if len(unknown):
            row = int(unknown.index[0])
            raise DataError(
                f"{manifest.source.name} row {row}, column {manifest.columns.label!r}: unknown label. "
                f"Expected one of {list(label_order)}. Got: {unknown['label'].iloc[0]!r}"
            )
        unused = [label for label in label_order if label not in seen]
        if unused:
            _log.warning("declared labels without training rows: %s", unused)
    wanted = set(modalities) if modalities is not None else {"image", "text", "sensor"}
    image = text = sensor = None
    if "image" in frame and "image" in wanted and image_spec is not None:
        image = image_spec
    elif "image" in frame and "image" in wanted:
        if image_size_px is None:
            first = read_image(frame["image"].iloc[0])
            image_size_px = (int(first.shape[1]), int(first.shape[0]))
        image = ImageSpec(width=image_size_px[0], height=image_size_px[1])
    if "text" in frame and "text" in wanted:
        if text_options is None:
            longest = max(len(split_words(t)) for t in frame["text"])
            text_options = TextOptions(max_length=max_text_length or max(1, min(text_length_cap, longest)))
        text = fit_text(list(frame["text"]), text_options, source=f"{manifest.source.name} training texts")
    if manifest.columns.sensors and "sensor" in wanted:
        values = {
            name: frame[f"sensor/{name}"].to_numpy(dtype=np.float64) for name in manifest.columns.sensors
        }
        sensor = fit_sensor(values, manifest.columns.units(), sensor_normalization)
    return Preprocessing(labels=label_order, image=image, text=text, sensor=sensor)


def make_tensors(
    manifest: Manifest,
    rows: Sequence[int] | np.ndarray,
    preprocessing: Preprocessing,
    workers: int | None = None,
    progress: bool = False,
) -> Tensors:
    """Tensors for these source rows through the device's preprocessing, one sample at a time.

    Images are decoded on a thread pool (OpenCV releases the GIL); ``progress`` shows a tqdm bar
    on a terminal. A label outside ``preprocessing.labels`` (never seen in training) is a DataError
    naming the row and column.
    """
    frame = _rows(manifest, rows)
    columns = manifest.columns
    source = manifest.source.name
    label_ids = {label: i for i, label in enumerate(preprocessing.labels)}
    labels = np.empty(len(frame), dtype=np.int32)
    for i, (row, label) in enumerate(frame["label"].items()):
        if label not in label_ids:
            raise DataError(
                f"{source} row {row}, column {columns.label!r}: label {label!r} was never seen in training. "
                f"Expected one of {list(preprocessing.labels)}"
            )
        labels[i] = label_ids[label]
    inputs: dict[str, np.ndarray] = {}
    if preprocessing.image is not None:
        _need(manifest, "image", "image")
        inputs["image"] = _images(frame, preprocessing.image, source, str(columns.image), workers, progress)
    if preprocessing.text is not None:
        _need(manifest, "text", "text")
        tokenizer = Tokenizer(preprocessing.text)
        inputs["text"] = tokenizer.encode_batch(list(frame["text"]))
    if preprocessing.sensor is not None:
        inputs["sensor"] = _sensors(manifest, frame, preprocessing.sensor)
    return Tensors(inputs=inputs, labels=labels, rows=frame.index.to_numpy(dtype=np.int64))


def raw_samples(manifest: Manifest, rows: Sequence[int] | np.ndarray) -> list[RawSample]:
    """The raw inputs of some rows, for golden vectors and the representative dataset."""
    frame = _rows(manifest, rows)
    names = list(manifest.columns.sensors)
    out = []
    for row, record in zip(frame.index, frame.to_dict("records"), strict=True):
        image = (
            _read(str(record["image"]), manifest.source.name, int(row), str(manifest.columns.image))
            if "image" in record
            else None
        )
        out.append(
            RawSample(
                row=int(row),
                image_bgr=image,
                text=record.get("text"),
                sensor={name: float(record[f"sensor/{name}"]) for name in names},
                label=str(record["label"]),
            )
        )
    return out


@dataclass(frozen=True)
class Dataset:
    """A cleaned manifest, its split, and the preprocessing fitted on the training part."""

    manifest: Manifest
    split: Split
    preprocessing: Preprocessing

    def tensors(self, part: Part, workers: int | None = None, progress: bool = False) -> Tensors:
        return make_tensors(
            self.manifest, self.split.part(part), self.preprocessing, workers=workers, progress=progress
        )

    def samples(self, part: Part, limit: int | None = None) -> list[RawSample]:
        rows = self.split.part(part)
        return raw_samples(self.manifest, rows if limit is None else rows[:limit])


def prepare_dataset(
    path: str | Path,
    columns: ColumnMap | None = None,
    policy: CleaningPolicy | None = None,
    labels: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    image_size_px: tuple[int, int] | None = None,
    max_text_length: int | None = None,
    verify_images: bool = True,
    progress: bool = False,
    group: str | None = "auto",
    image_spec: ImageSpec | None = None,
    text_options: TextOptions | None = None,
    sensor_normalization: dict[str, SensorNormalization] | None = None,
) -> Dataset:
    """Load and clean a manifest, split it (by group: see :func:`~converters.split.split_rows`), and
    fit the preprocessing of the ColumnMap's inputs on its training part."""
    manifest = load_manifest(
        path, columns, policy, labels=labels, verify_images=verify_images, progress=progress
    )
    split = split_rows(manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, group=group)
    preprocessing = fit_preprocessing(
        manifest, split.train, labels=labels, image_size_px=image_size_px, max_text_length=max_text_length,
        image_spec=image_spec, text_options=text_options, sensor_normalization=sensor_normalization,
    )
    _log.info("%s: %s, labels %s", manifest.source.name, split.summary(), list(preprocessing.labels))
    return Dataset(manifest=manifest, split=split, preprocessing=preprocessing)


def _rows(manifest: Manifest, rows: Sequence[int] | np.ndarray) -> pd.DataFrame:
    index = np.asarray(rows, dtype=np.int64)
    frame = manifest.frame
    missing = index[~np.isin(index, manifest.rows)]
    if len(missing):
        raise DataError(
            f"{manifest.source.name}: no usable row {int(missing[0])} "
            "(not in the file, or dropped by cleaning). "
            f"Expected rows among the {len(manifest)} kept"
        )
    return frame.loc[index]


def _need(manifest: Manifest, canonical: str, role: str) -> None:
    if canonical not in manifest.frame:
        raise DataError(
            f"{manifest.source}: the model has a {role} input but the ColumnMap names no {role} column"
        )


def _read(path: str, source: str, row: int, column: str) -> np.ndarray:
    try:
        return read_image(path)
    except InputError as exc:
        raise DataError(f"{source} row {row}, column {column!r}: unreadable image: {exc}") from exc


def _images(
    frame: pd.DataFrame, spec: ImageSpec, source: str, column: str, workers: int | None, progress: bool
) -> np.ndarray:
    identity = spec.is_identity_normalization
    out = np.empty((len(frame), spec.height, spec.width, 3), dtype=np.uint8 if identity else np.float32)
    jobs = list(enumerate(zip(frame.index.tolist(), frame["image"].tolist(), strict=True)))

    def load(job: tuple[int, tuple[int, str]]) -> None:
        i, (row, path) = job
        pixels = prepare_image(_read(path, source, row, column), spec, color_order="BGR")
        # Identity spec: normalize_image would only cast; the cast happens in the training step.
        out[i] = pixels if identity else normalize_image(pixels, spec)

    parallel_map(load, jobs, workers=workers, progress="images" if progress else None)
    return out


def _sensors(manifest: Manifest, frame: pd.DataFrame, spec: SensorSpec) -> np.ndarray:
    for name in spec.names:
        if f"sensor/{name}" not in frame:
            raise DataError(
                f"{manifest.source}: the model needs sensor channel {name!r}. "
                f"Got sensor columns: {list(manifest.columns.sensors)}"
            )
    values = np.stack([frame[f"sensor/{name}"].to_numpy(dtype=np.float64) for name in spec.names], axis=1)
    out = np.empty((len(frame), len(spec.channels)), dtype=np.float32)
    for i, (row, vector) in enumerate(zip(frame.index, values, strict=True)):
        try:
            out[i] = scale_sensor(dict(zip(spec.names, vector.tolist(), strict=True)), spec)
        except InputError as exc:
            column = (
                spec.names[int(np.flatnonzero(~np.isfinite(vector))[0])]
                if not np.isfinite(vector).all()
                else "?"
            )
            raise DataError(f"{manifest.source.name} row {row}, column {column!r}: {exc}") from exc
    return out
