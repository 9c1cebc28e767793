"""The frame type every frame source yields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from edge_sdk.clock import to_wall_s

if TYPE_CHECKING:
    from edge_sdk.model import PreparedImage

__all__ = ["ColorOrder", "Frame"]

ColorOrder = Literal["BGR", "RGB"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image.

    ``pixels`` is uint8 HxWx3 in ``color_order`` (OpenCV and Picamera2's RGB888 give BGR; the seek
    generator gives RGB). ``timestamp_s`` is the runtime clock (:func:`edge_sdk.clock.now_s`) taken
    right after capture; ``wall_time_s`` is the same instant in seconds since the epoch, for results.
    ``index`` counts frames from this source from 0 across loops and reconnects. ``media_t_s`` is the
    position in a file or generated clip (None for live cameras and streams). ``read_ms`` is how
    long the read and decode took (pacing waits excluded). With ``every_frame`` playback the source
    re-stamps ``timestamp_s`` on the media timeline; ``captured_s`` then keeps the capture instant.
    ``prepared``: the serving model's image input, made ahead by the pipeline (``pipeline.prepare_ahead``).
    """

    pixels: np.ndarray
    color_order: ColorOrder
    timestamp_s: float
    index: int
    source: str
    media_t_s: float | None = None
    read_ms: float = 0.0
    captured_s: float | None = None
    prepared: PreparedImage | None = None  # the model's image input made on the capture thread

    @property
    def capture_instant_s(self) -> float:
        """When the frame was read, on the runtime clock, whatever timeline ``timestamp_s`` is on."""
        return self.timestamp_s if self.captured_s is None else self.captured_s

    @property
    def wall_time_s(self) -> float:
        return to_wall_s(self.timestamp_s)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)
