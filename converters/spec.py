"""What to build: the model spec, from a config file or CLI flags, and the presets sized for a Pi."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from converters.errors import SpecError

__all__ = ["MIN_FEATURE_MAP", "MODALITIES", "PRESETS", "ModelSpec", "check_feature_map", "feature_map_size", "preset_spec"]

MODALITIES = ("image", "text", "sensor")
Fusion = Literal["concat", "weighted", "attention"]


@dataclass(frozen=True)
class ModelSpec:
    """A fusion model: any subset of the modalities, one fusion strategy, a dense head."""

    modalities: tuple[str, ...] = MODALITIES
    fusion: Fusion = field(default="attention", metadata={"help": "concat, weighted or attention"})
    cnn_block: Literal["separable", "conv"] = field(default="separable", metadata={"help": "CNN block type"})
    cnn_stem_filters: int = 24
    # A stride-2 stem keeps the detail that tells a small circle from a square; a 4x4 stride-4 stem
    # is faster but left the seek model at 0.95 (it confused shapes, so "absent" suffered).
    cnn_stem_kernel: int = field(default=3, metadata={"help": "first conv kernel size"})
    cnn_stem_stride: int = field(default=2, metadata={"help": "first conv stride"})
    cnn_filters: tuple[int, ...] = field(default=(32, 48, 64), metadata={"help": "filters of each CNN block"})
    cnn_strides: tuple[int, ...] = (2, 2, 1)
    rnn: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = 32
    rnn_units: int = 64
    sensor_units: int = 16
    fusion_dim: int = field(default=64, metadata={"help": "width of projections and attention"})
    head_units: int = 64
    dropout: float = 0.1
    # Keras' 0.99 suits seek's 250 steps an epoch; a dataset of a few thousand rows has too few steps
    # for the moving statistics to settle before early stopping, and validation sees chance accuracy.
    batch_norm_momentum: float = field(default=0.99, metadata={"help": "momentum of the CNN's moving statistics"})

    def __post_init__(self) -> None:
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown or not self.modalities:
            raise SpecError(f"modalities must be a non-empty subset of {MODALITIES}. Got: {self.modalities}")
        if len(set(self.modalities)) != len(self.modalities):
            raise SpecError(f"modalities must not repeat. Got: {self.modalities}")
        if self.fusion not in ("concat", "weighted", "attention"):
            raise SpecError(f"fusion must be concat, weighted or attention. Got: {self.fusion!r}")
        if self.fusion == "attention" and not {"image", "text"} <= set(self.modalities):
            raise SpecError(f"attention fusion needs the image and text modalities. Got: {self.modalities}")
        if len(self.cnn_filters) != len(self.cnn_strides):
            raise SpecError(
                f"cnn_filters and cnn_strides must have the same length. Got: {len(self.cnn_filters)} and {len(self.cnn_strides)}"
            )
        if not 0 <= self.dropout < 1:
            raise SpecError(f"dropout must be in [0, 1). Got: {self.dropout}")


MIN_FEATURE_MAP = 2  # a 1x1 map leaves attention one token and pooling nothing to pool

# Widths a Raspberry Pi 4 runs in a few milliseconds at int8 (``pi-base`` is the seek model's CNN).
PRESETS: dict[str, dict[str, Any]] = {
    "pi-tiny": {"batch_norm_momentum": 0.9, "cnn_stem_filters": 8, "cnn_filters": (16, 24), "cnn_strides": (2, 1), "embedding_dim": 16,
                "rnn_units": 32, "sensor_units": 8, "fusion_dim": 32, "head_units": 32},
    "pi-small": {"batch_norm_momentum": 0.9, "cnn_stem_filters": 16, "cnn_filters": (24, 32, 48), "cnn_strides": (2, 2, 1), "embedding_dim": 24,
                 "rnn_units": 48, "sensor_units": 16, "fusion_dim": 48, "head_units": 48},
    "pi-base": {"batch_norm_momentum": 0.9, "cnn_stem_filters": 24, "cnn_filters": (32, 48, 64), "cnn_strides": (2, 2, 1)},
}


def feature_map_size(spec: ModelSpec, image_size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the CNN's last map for an input of ``image_size`` (height, width); 'same' padding."""
    height, width = image_size
    for stride in (spec.cnn_stem_stride, *spec.cnn_strides):
        height, width = math.ceil(height / stride), math.ceil(width / stride)
    return height, width


def check_feature_map(spec: ModelSpec, image_size: tuple[int, int]) -> None:
    """SpecError when the strides leave less than a MIN_FEATURE_MAP square map for this input."""
    if "image" not in spec.modalities:
        return
    final = feature_map_size(spec, image_size)
    if min(final) < MIN_FEATURE_MAP:
        strides = [spec.cnn_stem_stride, *spec.cnn_strides]
        raise SpecError(
            f"a {image_size[1]}x{image_size[0]} image with strides {strides} (stem, then each block) leaves a "
            f"{final[1]}x{final[0]} feature map. Expected at least {MIN_FEATURE_MAP}x{MIN_FEATURE_MAP}: use stride 1 "
            f"in some layers, a preset (which adapts its strides to the input), or a larger image size"
        )


def preset_spec(name: str, image_size: tuple[int, int] | None, **overrides: Any) -> ModelSpec:
    """A preset's spec with its stride-2 layers cut back (last first) until the final map keeps at
    least 4x4 (half the input's side for inputs under 8x8, never under MIN_FEATURE_MAP); ``overrides``
    win over the preset, and explicit ``cnn_strides`` are kept as given."""
    if name not in PRESETS:
        raise SpecError(f"unknown architecture preset {name!r}. Expected one of: {', '.join(PRESETS)}")
    fields = {**PRESETS[name], **overrides}
    spec = ModelSpec(**fields)
    if image_size is None or "image" not in spec.modalities or "cnn_strides" in overrides:
        return spec
    target = max(MIN_FEATURE_MAP, min(4, min(image_size) // 2))
    strides = [spec.cnn_stem_stride, *spec.cnn_strides]
    while min(feature_map_size(spec, image_size)) < target and any(s > 1 for s in strides):
        last = max(i for i, s in enumerate(strides) if s > 1)
        strides[last] = 1
        spec = dataclasses.replace(spec, cnn_stem_stride=strides[0], cnn_strides=tuple(strides[1:]))
    check_feature_map(spec, image_size)
    return spec
