"""The one clock of the device runtime.

Every timestamp inside the runtime (frame capture, text and sensor readings, alignment skew, ages,
stage timings) is :func:`now_s`: ``time.monotonic()`` in seconds. It never jumps when NTP sets the
system clock, so ages and skews stay right on a Pi that boots without a real-time clock and syncs
minutes later.

Results leave the device with wall-clock time (seconds since the epoch). :func:`to_wall_s` maps a
runtime timestamp to wall time with an offset taken once at import, so all timestamps of one run
are mutually consistent (differences between them are exact). If NTP steps the system clock during
a run, reported wall times stay on the pre-step offset until the process restarts; that is the
price of never reordering events.

Trace replays (the seek ``.commands``/``.sensor`` files) run on a :class:`ReplayClock`: wall-paced
(:class:`WallReplayClock`) when the video plays in real time, or driven by the video itself
(:class:`MediaClock`) when every frame is processed as fast as the model allows, so the traces stay
in step with the frames either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["TIME_EPSILON_S", "MediaClock", "ReplayClock", "WallReplayClock", "from_wall_s", "now_s", "to_wall_s", "wall_s"]

TIME_EPSILON_S = 1e-6
"""Timestamps closer than this are the same instant (media-time arithmetic rounds differently)."""

now_s = time.monotonic
"""Runtime clock: monotonic seconds (arbitrary origin)."""

_WALL_OFFSET_S = time.time() - time.monotonic()
# Traces store times rounded to 0.1 ms (1/15 s is written 0.0667): a sample counts as reached
# by a frame within half a millisecond of it, or it would wait for the next frame.
_MEDIA_TOLERANCE_S = 5e-4


def wall_s() -> float:
    """Wall-clock time of "now" on the runtime's mapping (seconds since the epoch)."""
    return time.monotonic() + _WALL_OFFSET_S


def to_wall_s(timestamp_s: float) -> float:
    """Map a runtime timestamp (:func:`now_s`) to seconds since the epoch."""
    return timestamp_s + _WALL_OFFSET_S


def from_wall_s(epoch_s: float) -> float:
    """Map seconds since the epoch (e.g. a ``ts`` field from another process) to the runtime clock."""
    return epoch_s - _WALL_OFFSET_S


class ReplayClock(Protocol):
    """Where a trace replay is on its timeline, and when a trace time happened on the runtime clock."""

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        """Block until the timeline reaches ``t_s`` (True) or the timeout passes (False)."""

    def to_runtime_s(self, t_s: float) -> float:
        """Runtime timestamp (:func:`now_s`) of trace time ``t_s``."""


class WallReplayClock:
    """Trace time ``t_s`` happens at ``start_s + t_s`` on the runtime clock (real-time replay)."""

    def __init__(self, start_s: float | None = None) -> None:
        self.start_s = now_s() if start_s is None else start_s

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        delay_s = self.start_s + t_s - now_s()
        if delay_s <= 0:
            return True
        if timeout_s is not None and timeout_s < delay_s:
            time.sleep(max(timeout_s, 0.0))
            return False
        time.sleep(delay_s)
        return True

    def to_runtime_s(self, t_s: float) -> float:
        return self.start_s + t_s


class MediaClock:
    """A timeline driven by a video: each decoded frame advances it to the frame's media time.

    Used with ``every_frame`` playback, where the video runs faster or slower than real time. The
    timeline is anchored once, at the first frame: media time ``t_s`` is ``origin_s + t_s`` on the
    runtime clock, for frames (the source re-stamps them) and for trace readings alike. A reading is
    released once the video has reached its time, so frame/sensor skews match the recording even
    when the capture thread runs a few frames ahead of inference.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._media_t_s = -1.0
        self._origin_s: float | None = None
        self._closed = False
        self._listeners: list[Callable[[float], object]] = []

    def subscribe(self, on_advance: Callable[[float], object]) -> None:
        """Call ``on_advance(media_t_s)`` after each :meth:`advance`, on the video's thread."""
        with self._cond:
            self._listeners = [*self._listeners, on_advance]

    def unsubscribe(self, on_advance: Callable[[float], object]) -> None:
        with self._cond:
            self._listeners = [f for f in self._listeners if f != on_advance]

    def advance(self, media_t_s: float, timestamp_s: float) -> None:
        """Called by the video source with each frame's media time and capture timestamp."""
        with self._cond:
            if self._origin_s is None:
                self._origin_s = timestamp_s - media_t_s
            self._media_t_s = media_t_s
            self._cond.notify_all()
            listeners = self._listeners
        for on_advance in listeners:
            on_advance(media_t_s)

    def reached(self, t_s: float) -> bool:
        """Whether the video has reached trace time ``t_s`` (to the traces' rounding)."""
        return self._media_t_s >= t_s - _MEDIA_TOLERANCE_S

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End of the video: release every waiter (nothing later will arrive)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self.reached(t_s) or self._closed, timeout_s)
            return self.reached(t_s)

    def to_runtime_s(self, t_s: float) -> float:
        with self._cond:
            if self._origin_s is None:  # before the first frame: anchor at "now"
                self._origin_s = now_s() - max(self._media_t_s, 0.0)
            if abs(self._media_t_s - t_s) <= _MEDIA_TOLERANCE_S:
                t_s = self._media_t_s  # a sample at the frame's instant, to the trace's rounding, is the frame's
            return self._origin_s + t_s
