"""The frame type every frame source yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge_sdk.clock import to_wall_s

__all__ = ["ColorOrder", "Frame"]

ColorOrder = Literal["BGR", "RGB"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image.

    ``pixels`` is uint8 HxWx3 in ``color_order`` (OpenCV and Picamera2's RGB888 give BGR; the seek
    generator gives RGB). ``timestamp_s`` is the runtime clock (:func:`edge_sdk.clock.now_s`) taken
    right after capture; ``wall_time_s`` is the same instant in seconds since the epoch, for results.
    ``index`` counts frames from this source from 0 across loops and reconnects. ``media_t_s`` is the
    position in a file or generated clip (None for live cameras and streams).
    """

    pixels: np.ndarray
    color_order: ColorOrder
    timestamp_s: float
    index: int
    source: str
    media_t_s: float | None = None

    @property
    def wall_time_s(self) -> float:
        return to_wall_s(self.timestamp_s)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)
