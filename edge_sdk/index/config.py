"""The ``index`` section of the device config: which frames ``edge-sdk run`` embeds and keeps.

::

    index:
      path: /var/lib/edge_sdk/index     # a folder; reopened on restart
      max_rate_hz: 1                    # at most one frame a second ...
      on_change: 0.04                   # ... and only when the picture changed this much
      max_frames: 20000                 # oldest first out, by count ...
      max_age_s: 604800                 # ... and by age
      ingest: auto                      # embed and write in a process of its own on 2+ CPUs
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from edge_sdk._cpus import usable_cpus
from edge_sdk.configtools import bounds, check_bounds
from edge_sdk.errors import ConfigError

__all__ = ["IndexConfig"]


@dataclass(frozen=True)
class IndexConfig:
    path: str = field(metadata={"help": "folder of the rolling index (created if missing, reopened on restart)"})
    bundle: str = field(default="", metadata={
        "help": "retrieval bundle with an embed_image signature (and embed_text for queries); empty: model.path. "
                "When the run serves that same signature, its results are indexed with no second inference"})
    every_n_frames: int = field(default=1, metadata={**bounds(ge=1), "help": "consider one result in N for indexing"})
    on_change: float = field(default=0.0, metadata={
        **bounds(ge=0, le=1), "help": "index a frame only when its 32x32 grey image differs from the last indexed "
                                      "one by this mean absolute change (0 to 1); 0: every considered frame"})
    max_rate_hz: float = field(default=1.0, metadata={
        **bounds(ge=0), "help": "at most this many indexed frames per second of frame time; 0: no limit"})
    max_frames: int = field(default=10_000, metadata={
        **bounds(ge=1), "help": "frames kept; when full the oldest is overwritten (eviction: oldest first)"})
    max_age_s: float | None = field(default=None, metadata={
        "help": "frames older than this are evicted (oldest first); null: by count only"})
    thumbnail_px: int = field(default=96, metadata={**bounds(ge=16, le=1024), "help": "thumbnail width in pixels"})
    thumbnail_quality: int = field(default=70, metadata={**bounds(ge=10, le=100), "help": "thumbnail JPEG quality"})
    queue_size: int = field(default=16, metadata={
        **bounds(ge=1), "help": "frames waiting for the index writer; when full the oldest waiting one is "
                                "dropped (drop_oldest, counted): a live camera never waits for the disk"})
    when_full: Literal["auto", "drop_oldest", "block"] = field(default="auto", metadata={
        "help": "a full queue drops its oldest frame, or makes the run wait for room; auto: wait in "
                "camera.playback every_frame (a replay indexes the same frames every time), drop on a live camera"})

    ingest: Literal["auto", "thread", "process"] = field(default="auto", metadata={
        "help": "edge-sdk run: embed, thumbnail and write on a thread of the runtime process, or in an ingest "
                "process of its own (frames cross in shared memory; its own interpreter lock, so the pipeline "
                "does not wait for it); auto: the process when the runtime may use two or more CPUs (Linux). "
                "Queries are answered either way, from what is on disk (docs/retrieval-device.md)"})

    def __post_init__(self) -> None:
        check_bounds(self)
        if not self.path.strip():
            raise ConfigError("index.path: expected a folder for the index. Got: an empty string")
        if self.max_age_s is not None and not self.max_age_s > 0:
            raise ConfigError(f"index.max_age_s: expected a positive number of seconds or null. Got: {self.max_age_s}")

    @property
    def ingest_in_process(self) -> bool:
        """Whether ``ingest`` means an ingest process here (``auto``: two or more usable CPUs, as ``camera.capture``)."""
        if self.ingest != "auto":
            return self.ingest == "process"
        if not sys.platform.startswith("linux"):  # the ingest process's SOCK_SEQPACKET socket pair is Linux's
            return False
        return usable_cpus() >= 2
