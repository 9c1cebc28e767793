"""Options of the inference pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edge_sdk.errors import ConfigError

__all__ = ["PipelineConfig"]


@dataclass(frozen=True)
class PipelineConfig:
    max_fps: float = field(default=0.0, metadata={"help": "cap on inference rate; 0: as fast as frames come"})
    publish: Literal["every", "change"] = field(
        default="every", metadata={"help": "publish every result, or only when the decision changes"}
    )
    every_n: int = field(default=1, metadata={"help": "with publish=every: publish one result in N"})
    change_confidence_delta: float = field(
        default=0.15, metadata={"help": "with publish=change: a confidence move this large also counts as a change"}
    )
    dispatch_queue: int = field(
        default=256, metadata={"help": "size of each of the two result queues: to the sinks (never drops: the worker waits for room) and to callbacks and actions (when full: drop_oldest on live sources, block in every_frame playback)"}
    )
    stats_interval_s: float = field(default=5.0, metadata={"help": "how often stats are published; 0: never"})
    skip_incomplete: bool = field(
        default=True, metadata={"help": "skip frames whose text or sensor input is missing (counted), instead of failing"}
    )
    max_frames: int = field(default=0, metadata={"help": "stop after this many results; 0: no limit"})
    prepare_ahead: bool | None = field(default=None, metadata={
        "help": "make the model's image input on the capture thread, while the worker invokes the frame before "
                "(same tensor bytes); null: on with two or more usable CPUs"})

    def __post_init__(self) -> None:
        if self.max_fps < 0:
            raise ConfigError(f"pipeline.max_fps: expected 0 or more. Got: {self.max_fps}")
        if self.every_n < 1:
            raise ConfigError(f"pipeline.every_n: expected 1 or more. Got: {self.every_n}")
        if self.dispatch_queue < 1:
            raise ConfigError(f"pipeline.dispatch_queue: expected 1 or more. Got: {self.dispatch_queue}")
