"""Match each frame with the text and sensor reading that belong to it.

Policies (``AlignConfig.policy``):

* ``latest`` -- the newest text and sensor reading within their max age at the frame's timestamp.
  Never waits; what a live robot wants.
* ``wait_fresh`` -- if the newest sensor reading is older than the frame, wait up to
  ``wait_timeout_s`` for one taken at or after it (then fall back to ``latest``, counted in
  ``fresh_timeouts``). For a sensor slower than the camera when the decision must reflect the
  current distance, and for ``every_frame`` playback with trace replays on a
  :class:`~edge_sdk.clock.MediaClock`, where the replay thread releases the reading stamped at the
  frame's own instant just after the frame is read. Text changes on human time scales and is never
  waited for.

``skew_ms`` is ``(frame.timestamp_s - sensor_ts) * 1000``: positive when the reading is older than
the frame. :meth:`Aligner.align` runs per frame in the inference worker, so it only reads the slots'
current readings (no locks on the ``latest`` path) and allocates nothing but the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edge_sdk.clock import TIME_EPSILON_S
from edge_sdk.sources.config import AlignConfig
from edge_sdk.sources.frame import Frame
from edge_sdk.sources.sensor import SensorSlot
from edge_sdk.sources.text import TextSlot

__all__ = ["AlignedInputs", "Aligner"]


@dataclass(frozen=True, slots=True)
class AlignedInputs:
    """One frame with its inputs; ``text``/``sensor`` are None when missing or too old."""

    frame: Frame
    text: str | None
    text_ts: float | None
    sensor: Mapping[str, float] | None
    sensor_ts: float | None
    skew_ms: float | None


class Aligner:
    """Per-frame alignment of text and sensor readings; counts what was missing or waited for."""

    def __init__(self, text: TextSlot | None, sensor: SensorSlot | None, config: AlignConfig | None = None) -> None:
        self.text, self.sensor = text, sensor
        self.config = config or AlignConfig()
        self._wait_fresh = self.config.policy == "wait_fresh"
        self._wait_timeout_s = self.config.wait_timeout_s
        self.frames = 0
        self.text_missing = 0
        self.sensor_missing = 0
        self.fresh_timeouts = 0

    def align(self, frame: Frame) -> AlignedInputs:
        frame_ts = frame.timestamp_s
        self.frames += 1
        text_reading = self.text.latest(frame_ts) if self.text is not None else None
        if text_reading is None and self.text is not None:
            self.text_missing += 1
        sensor_reading = None
        if self.sensor is not None:
            sensor_reading = self.sensor.latest(frame_ts)
            if self._wait_fresh and (sensor_reading is None or sensor_reading[1] < frame_ts - TIME_EPSILON_S):
                fresh = self.sensor.wait_since(frame_ts, self._wait_timeout_s)
                if fresh is None:
                    self.fresh_timeouts += 1
                    sensor_reading = self.sensor.latest(frame_ts)  # may have moved on while waiting
                else:
                    sensor_reading = fresh
            if sensor_reading is None:
                self.sensor_missing += 1
        if sensor_reading is None:
            if text_reading is None:
                return AlignedInputs(frame, None, None, None, None, None)
            return AlignedInputs(frame, text_reading[0], text_reading[1], None, None, None)
        sensor_ts = sensor_reading[1]
        return AlignedInputs(
            frame,
            None if text_reading is None else text_reading[0],
            None if text_reading is None else text_reading[1],
            sensor_reading[0],
            sensor_ts,
            (frame_ts - sensor_ts) * 1000.0,
        )

    def stats(self) -> dict[str, int]:
        return {"frames": self.frames, "text_missing": self.text_missing, "sensor_missing": self.sensor_missing,
                "fresh_timeouts": self.fresh_timeouts}
