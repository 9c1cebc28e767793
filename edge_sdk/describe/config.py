"""The ``describe`` section of the device config: when ``edge-sdk run`` captions or translates.

::

    describe:
      every_s: 5          # a caption of the current frame every 5 s of frame time ...
      on_change: 0.05     # ... and at once when the picture changed this much since the last one
      beam_size: 3        # null: the bundle's own

Used when ``model.path`` is a generate bundle (signatures ``encode`` and ``decode_step``); a
captioner's captions go to ``<prefix>/<device>/caption``, a translator's translations (of each new
text command, given the frame it arrives with) to ``<prefix>/<device>/translation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_sdk.configtools import bounds, check_bounds
from edge_sdk.errors import ConfigError

__all__ = ["DescribeConfig"]


@dataclass(frozen=True)
class DescribeConfig:
    every_s: float = field(default=5.0, metadata={
        **bounds(ge=0), "help": "describe the current frame when this many seconds of frame time have passed since "
                                "the last description; 0: only on change (or, translating, on a new text)"})
    on_change: float = field(default=0.0, metadata={
        **bounds(ge=0, le=1), "help": "also describe a frame whose 32x32 grey image differs from the last described "
                                      "one by this mean absolute change (0 to 1); 0: off"})
    min_interval_s: float = field(default=0.0, metadata={
        **bounds(ge=0), "help": "never describe two frames closer than this in frame time (bounds on_change and new "
                                "texts); 0: no bound"})
    beam_size: int | None = field(default=None, metadata={
        "help": "beam width of the search; 1: greedy; null: the bundle's own"})
    max_length: int | None = field(default=None, metadata={
        "help": "most tokens per description; null: the bundle's own"})
    topic: str = field(default="", metadata={
        "help": "topic under <prefix>/<device>/ for the descriptions; empty: caption for a captioner, translation "
                "for a translator"})

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.beam_size is not None and self.beam_size < 1:
            raise ConfigError(f"describe.beam_size: expected 1 or more, or null. Got: {self.beam_size}")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"describe.max_length: expected 1 or more, or null. Got: {self.max_length}")
        if self.topic and (self.topic.startswith("/") or any(ch in self.topic for ch in "+#")):
            raise ConfigError(f"describe.topic: expected a topic below the device, without '+', '#' or a leading "
                              f"'/'. Got: {self.topic!r}")
