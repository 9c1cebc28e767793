"""What to build: the model spec, from a config file or CLI flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from converters.errors import SpecError

__all__ = ["MODALITIES", "ModelSpec"]

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
