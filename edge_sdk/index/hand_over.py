"""When frames waiting for the index's ingest process go to it: at once, or a few together.

A replay indexes a frame every few milliseconds, and a hand-over of one frame costs a wake-up of
the ingest process and one of the runtime's listener thread; on a 2-core VM whose idle CPUs halt
that slowed the run more than the embed did (``bench/index.py``: ``pipeline_fps_ratio`` 0.87 with
a hand-over per frame, 0.91 with these batches). So a frame that comes within ``fast_gap_s`` of the
one before waits for ``batch_min`` frames or ``linger_s`` after the oldest, whichever is sooner. A
camera's frames, due at ``index.max_rate_hz``, go at once. Pure bookkeeping: the caller
(:class:`~edge_sdk.index.ingest_process.ProcessIndexStage`) holds its lock around every call.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from edge_sdk.sources.frame import ColorOrder

__all__ = ["HandOverPolicy", "Waiting"]

HAND_OVER_MIN = 8
LINGER_S = 0.02
FAST_GAP_S = 0.01


class Waiting(NamedTuple):
    """A frame in a slot of the ring, waiting for the ingest process."""

    slot: int
    shape: tuple[int, ...]
    frame_ts: float
    color_order: ColorOrder
    vector: npt.NDArray[np.float32] | None
    queued_s: float  # time.monotonic()


class HandOverPolicy:
    """``due``: whether what waits goes now; ``timeout_ms``: how long the listener may sleep before it must look.

    A frame may wait only while the listener is sure to wake: sleeping with a timeout (``listener_timed``, which
    the stage sets), or about to get a ``done``."""

    def __init__(self, batch_min: int = HAND_OVER_MIN, linger_s: float = LINGER_S,
                 fast_gap_s: float = FAST_GAP_S) -> None:
        self.batch_min, self.linger_s, self.fast_gap_s = batch_min, linger_s, fast_gap_s
        self.flush = False  # closing, or a new ring: whatever waits goes now
        self.listener_timed = False
        self._last_queued_s = float("-inf")

    def queued(self, now: float) -> bool:
        """Note a frame queued at ``now``; True when it came fast enough to wait for more."""
        fast, self._last_queued_s = now - self._last_queued_s < self.fast_gap_s, now
        return fast

    def due(self, waiting: int, oldest_s: float, now: float) -> bool:
        """Whether ``waiting`` frames, the oldest queued at ``oldest_s``, go to an ingest process that asks for work."""
        return waiting > 0 and (self.flush or waiting >= self.batch_min or now - oldest_s >= self.linger_s - 1e-9)

    def timeout_ms(self, waiting: int, oldest_s: float, now: float) -> int | None:
        """The listener's longest sleep while the ingest process asks for work; None: until a message comes.

        Timed while frames wait, and for ``fast_gap_s`` after the last frame (the next may be told to wait);
        otherwise the next frame goes at once."""
        if waiting:
            return max(0, _ceil_ms(oldest_s + self.linger_s - now))
        since_s = now - self._last_queued_s
        return _ceil_ms(self.fast_gap_s - since_s) if since_s < self.fast_gap_s else None


def _ceil_ms(seconds: float) -> int:
    return math.ceil(round(seconds * 1000, 3))  # rounded first: 0.015 s is 15 ms, not 15.000000000000002
