"""The training config: one strict YAML file for ``edge-sdk train --config train.yaml``.

::

    manifest: data/manifest.csv          # relative to this file
    label: digit                         # the column holding the class label
    inputs:
      image: {column: scan, size: [8, 8], color_order: RGB}
      text: {column: question, max_length: null, lowercase: true, min_count: 1}
      sensors:
        - {column: temperature_c, unit: C}
        - {column: humidity_pct, unit: "%", normalization: minmax}
    model: {preset: pi-small, fusion: concat, rnn: gru}
    training: {epochs: 30, batch_size: 64, learning_rate: 0.003, patience: 6, seed: 0}
    cleaning: {missing_image: drop}
    split: {val: 0.1, test: 0.1, group: auto}

Built with :mod:`edge_sdk.configtools` like the device config: unknown keys are rejected with the
valid ones listed, every value is type-checked, and errors carry the file's line number. The model
directory keeps the resolved config (``train_config.json``) so ``convert`` reads the same columns,
cleaning and split.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from converters.errors import SpecError
from converters.fitting import SensorNormalization, TextOptions
from converters.manifest import CleaningPolicy, ColumnMap
from converters.spec import PRESETS, ModelSpec, check_feature_map, preset_spec
from edge_sdk import configtools
from edge_sdk.errors import ConfigError
from edge_sdk.preprocess import ImageSpec

__all__ = [
    "ImageInput",
    "InputsSection",
    "ModelSection",
    "SensorInput",
    "SplitSection",
    "TextInput",
    "TrainingConfig",
    "TrainingSection",
    "load_training_config",
    "parse_training_config",
    "render_reference",
]

REFERENCE_BEGIN = "<!-- training config reference: python -m converters.trainconfig -->"
REFERENCE_END = "<!-- end of training config reference -->"

if TYPE_CHECKING:
    from converters.train import TrainConfig

CONFIG_FILE = "train_config.json"  # the resolved config, saved beside the trained model


@dataclass(frozen=True)
class ImageInput:
    column: str = field(metadata={"help": "manifest column of image paths (relative to the manifest)",
                                  "example": "column: image"})
    size: tuple[int, int] = field(metadata={"help": "model input width and height in pixels; every image is "
                                            "resized to it", "example": "size: [64, 64]"})
    color_order: Literal["RGB", "BGR"] = field(default="RGB", metadata={"help": "channel order the model sees"})
    resize: Literal["stretch", "letterbox", "center_crop"] = field(default="stretch", metadata={
        "help": "how an image of another aspect fits the size"})

    def spec(self) -> ImageSpec:
        return ImageSpec(width=self.size[0], height=self.size[1], color_order=self.color_order, resize=self.resize)


@dataclass(frozen=True, kw_only=True)
class TextInput(TextOptions):
    column: str = field(metadata={"help": "manifest column of texts (a command, a question)",
                                  "example": "column: text"})

    def options(self) -> TextOptions:
        return TextOptions(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TextOptions)})


@dataclass(frozen=True)
class SensorInput:
    column: str = field(metadata={"help": "manifest column of one sensor channel; its name is the channel's "
                                  "name on the device", "example": "column: distance_cm"})
    unit: str = field(default="", metadata={"help": "the channel's unit, written into the bundle"})
    normalization: SensorNormalization = field(default="standard", metadata={
        "help": "standard: training mean and std; minmax: training range to -1..1; none: as is"})


@dataclass(frozen=True)
class InputsSection:
    image: ImageInput | None = field(default=None, metadata={"help": "the image input; null: none"})
    text: TextInput | None = field(default=None, metadata={"help": "the text input; null: none"})
    sensors: tuple[SensorInput, ...] = field(default=(), metadata={"help": "sensor channels, in model order"})

    def __post_init__(self) -> None:
        if self.image is None and self.text is None and not self.sensors:
            raise SpecError("expected at least one of image, text, sensors. Got: none")

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, on in (("image", self.image), ("text", self.text), ("sensor", self.sensors)) if on)


@dataclass(frozen=True)
class ModelSection:
    """Architecture: a preset (sized for a Pi, strides adapted to small inputs) and any field over it."""

    preset: str | None = field(default="pi-small", metadata={
        "help": f"{', '.join(PRESETS)}; null: the seek model's sizes, strides as given"})
    fusion: Literal["concat", "weighted", "attention"] = field(default="concat", metadata={
        "help": "how inputs combine; attention needs image and text"})
    rnn: Literal["lstm", "gru"] = field(default="lstm", metadata={"help": "text encoder cell"})
    cnn_block: Literal["separable", "conv"] = field(default="separable", metadata={"help": "CNN block type"})
    cnn_stem_filters: int | None = None
    cnn_stem_kernel: int | None = None
    cnn_stem_stride: int | None = None
    cnn_filters: tuple[int, ...] | None = field(default=None, metadata={"help": "filters per CNN block (depth = count)"})
    cnn_strides: tuple[int, ...] | None = field(default=None, metadata={"help": "stride per CNN block; set: kept as given"})
    embedding_dim: int | None = None
    rnn_units: int | None = field(default=None, metadata={"help": "width of the LSTM or GRU"})
    sensor_units: int | None = None
    fusion_dim: int | None = None
    head_units: int | None = None
    dropout: float | None = None
    batch_norm_momentum: float | None = None

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            raise SpecError(f"expected one of {', '.join(map(repr, PRESETS))} or null. Got: {self.preset!r}")

    def spec(self, modalities: tuple[str, ...], image_size_hw: tuple[int, int] | None) -> ModelSpec:
        chosen = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "preset"}
        overrides = {k: v for k, v in chosen.items() if v is not None}
        overrides["modalities"] = modalities
        if self.preset is not None:
            return preset_spec(self.preset, image_size_hw, **overrides)
        spec = ModelSpec(**overrides)
        if image_size_hw is not None:
            check_feature_map(spec, image_size_hw)
        return spec


@dataclass(frozen=True)
class TrainingSection:
    epochs: int = field(default=40, metadata={**configtools.bounds(ge=1), "help": "maximum epochs"})
    batch_size: int = field(default=64, metadata={**configtools.bounds(ge=1), "help": "samples per step"})
    learning_rate: float = field(default=3e-3, metadata={**configtools.bounds(gt=0),
                                                         "help": "peak rate (warm-up, then cosine decay)"})
    warmup_epochs: int = field(default=1, metadata=configtools.bounds(ge=0))
    patience: int = field(default=8, metadata={**configtools.bounds(ge=1),
                                               "help": "early stopping: epochs without a validation gain"})
    target_accuracy: float = field(default=1.01, metadata={"help": "stop once validation accuracy reaches this"})
    seed: int = field(default=0, metadata={"help": "seed of the training (and the split unless split.seed)"})
    hflip_swap: tuple[tuple[str, str], ...] = field(default=(), metadata={
        "help": "label pairs a horizontal flip swaps, e.g. [[left, right]]; empty: no flips"})
    threads: int = field(default=0, metadata={"help": "TensorFlow intra-op threads; 0: its default"})
    tie_break: Literal["first", "val_loss"] = field(default="val_loss", metadata={
        "help": "among epochs of equal validation accuracy keep the first, or the one of lowest validation loss"})
    deterministic: bool = field(default=True, metadata={
        "help": "TensorFlow op determinism: a seeded run gives the same model on every run"})

    def __post_init__(self) -> None:
        configtools.check_bounds(self)

    def config(self) -> TrainConfig:
        from converters.train import TrainConfig  # with Keras: only when training

        return TrainConfig(**asdict(self))


@dataclass(frozen=True)
class SplitSection:
    val: float = field(default=0.1, metadata={**configtools.bounds(ge=0, le=0.9), "help": "validation fraction"})
    test: float = field(default=0.1, metadata={**configtools.bounds(ge=0, le=0.9), "help": "held-out test fraction"})
    group: str = field(default="auto", metadata={
        "help": "a column whose rows stay on one side (a recording, a scan); auto: the image path when an "
                "image appears in several rows; none: every row alone"})
    seed: int | None = field(default=None, metadata={"help": "seed of the split; null: training.seed"})

    def __post_init__(self) -> None:
        configtools.check_bounds(self)


@dataclass(frozen=True)
class TrainingConfig:
    inputs: InputsSection = field(metadata={"help": "which manifest columns feed which model input",
                                            "example": "inputs: {image: {column: image, size: [64, 64]}}"})
    manifest: str | None = field(default=None, metadata={
        "help": "the manifest (CSV, JSONL, Parquet), relative to this file; or --manifest"})
    label: str = field(default="label", metadata={"help": "manifest column of the class label"})
    labels: tuple[str, ...] | None = field(default=None, metadata={
        "help": "label order of the model's scores; null: the training labels sorted"})
    name: str = field(default="model", metadata={"help": "model name in bundles"})
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    cleaning: CleaningPolicy = field(default_factory=CleaningPolicy)
    split: SplitSection = field(default_factory=SplitSection)

    def columns(self) -> ColumnMap:
        inputs = self.inputs
        group = None if self.split.group in ("auto", "none") else self.split.group
        return ColumnMap(
            image=inputs.image.column if inputs.image else None,
            text=inputs.text.column if inputs.text else None,
            label=self.label,
            sensors=tuple(s.column for s in inputs.sensors),
            sensor_units=tuple(s.unit for s in inputs.sensors),
            group=group,
        )

    def spec(self) -> ModelSpec:
        image = self.inputs.image
        return self.model.spec(self.inputs.modalities, (image.size[1], image.size[0]) if image else None)

    @property
    def split_seed(self) -> int:
        return self.training.seed if self.split.seed is None else self.split.seed

    def manifest_path(self, base: Path | None = None) -> Path:
        if self.manifest is None:
            raise SpecError("no manifest: set manifest in the training config or pass --manifest")
        path = Path(self.manifest)
        return path if path.is_absolute() or base is None else base / path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path


def parse_training_config(data: Any, source_text: str | None = None, where: str = "training config") -> TrainingConfig:
    """Build a :class:`TrainingConfig`; with ``source_text`` (YAML), errors carry ``file:line:``."""
    from edge_sdk.config import _with_line  # the device config's line finder: one rule for both files

    try:
        return configtools.build(TrainingConfig, data)
    except ConfigError as exc:
        raise SpecError(_with_line(str(exc), source_text, where)) from None


def load_training_config(path: str | Path) -> TrainingConfig:
    """Read a YAML (or JSON) training config; a relative ``manifest`` is made relative to the file."""
    from edge_sdk.config import read_config_file

    source = Path(path)
    if not source.is_file():
        raise SpecError(f"training config not found: {source}. Expected a YAML file (edge-sdk init-train writes one)")
    try:
        data, text = read_config_file(source)
    except ConfigError as exc:
        raise SpecError(str(exc)) from None
    config = parse_training_config(data, text, str(source))
    if config.manifest is not None and not Path(config.manifest).is_absolute():
        # absolute, so the copy saved beside the model still finds it from any folder
        config = dataclasses.replace(config, manifest=str((source.parent / config.manifest).resolve()))
    return config


def saved_training_config(model_dir: str | Path) -> TrainingConfig | None:
    """The config a model directory was trained with (None for a model trained before configs)."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    return parse_training_config(json.loads(path.read_text()), where=str(path))


def legacy_training_config(trained: Any, manifest: str | Path | None) -> TrainingConfig:
    """The config a model trained before configs implies: the seek columns of its inputs, its own
    image size and text length, the seek split (seed 0, ungrouped unless images repeat)."""
    if manifest is None:
        raise SpecError("this model was trained without a saved training config: pass --manifest")
    preprocessing, modalities = trained.preprocessing, trained.spec.modalities
    columns = ColumnMap.for_modalities(modalities)
    image = preprocessing.image if "image" in modalities else None
    text = preprocessing.text if "text" in modalities else None
    sensor = preprocessing.sensor if "sensor" in modalities else None
    inputs = InputsSection(
        image=ImageInput(column=str(columns.image), size=(image.width, image.height), color_order=image.color_order,
                         resize=image.resize) if image else None,
        text=TextInput(column=str(columns.text), max_length=text.max_length) if text else None,
        sensors=tuple(SensorInput(column=c.name, unit=c.unit) for c in sensor.channels) if sensor else (),
    )
    return TrainingConfig(inputs=inputs, manifest=str(manifest), labels=tuple(preprocessing.labels),
                          model=ModelSection(preset=None, fusion=trained.spec.fusion))


def render_reference() -> str:
    """The key reference of docs/training.md, between its markers, from the dataclasses themselves."""
    from edge_sdk.configdoc import render_tables

    sections: list[tuple[str, type, str]] = [
        ("(top level)", TrainingConfig, "The sections of a training config."),
        ("inputs", InputsSection, "Which manifest columns feed which model input; at least one."),
        ("inputs.image", ImageInput, "The image input."),
        ("inputs.text", TextInput, "The text input and its tokenizer (shared with the device)."),
        ("inputs.sensors[]", SensorInput, "One sensor channel."),
        ("model", ModelSection, "The architecture: a preset, and any field set over it (null: the preset's)."),
        ("training", TrainingSection, "The training loop."),
        ("cleaning", CleaningPolicy, "Per problem found in a row: `fail` (name the rows) or `drop` (count them)."),
        ("split", SplitSection, "Train / validation / test, by group."),
    ]
    return "\n".join([REFERENCE_BEGIN, "", *render_tables(sections, level="###"), REFERENCE_END]) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_reference())
