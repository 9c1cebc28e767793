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

A looping video plays its file again and again; its traces loop with it. The clocks' timeline is
unwrapped: pass k of the file starts at the sum of the earlier passes' lengths (the source says so
with ``new_pass(offset_s)`` when it wraps), and a replay releases each record again on every pass,
at ``t_s + offset_s``, so skews on pass k are those of pass 1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["TIME_EPSILON_S", "MediaClock", "PassListener", "ReplayClock", "WallReplayClock", "from_wall_s", "now_s",
           "to_wall_s", "wall_s"]

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


PassListener = Callable[[float], object]
"""``listener(offset_s)``: a looping video began a new pass, which starts at ``offset_s`` on the timeline."""


class ReplayClock(Protocol):
    """Where a trace replay is on its (unwrapped) timeline, and when a time on it happened on the runtime clock."""

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        """Block until the timeline reaches ``t_s`` (True), or the timeout passes or the video loops (False)."""

    def to_runtime_s(self, t_s: float) -> float:
        """Runtime timestamp (:func:`now_s`) of timeline time ``t_s``."""

    def on_pass(self, listener: PassListener) -> None:
        """Call ``listener(offset_s)`` when the video loops: its new pass starts at ``offset_s`` on the timeline."""

    def remove_pass_listener(self, listener: PassListener) -> None:
        """Stop calling ``listener``."""


class _Passes:
    """The passes of a looping video on a replay clock's timeline; pass 0 starts at 0."""

    def __init__(self) -> None:
        self._pass_lock = threading.Lock()
        self._pass_begun = threading.Condition(self._pass_lock)  # wakes a wall-clock wait: the replay moves on
        self._pass_listeners: list[PassListener] = []
        self.pass_offset_s = 0.0  # where the current pass starts on the timeline
        self.passes = 1

    def on_pass(self, listener: PassListener) -> None:
        with self._pass_lock:
            self._pass_listeners = [*self._pass_listeners, listener]

    def remove_pass_listener(self, listener: PassListener) -> None:
        with self._pass_lock:
            self._pass_listeners = [f for f in self._pass_listeners if f != listener]

    def new_pass(self, offset_s: float) -> None:
        """Called by the video source when it wraps to its first frame, before that frame is read: the new
        pass starts at ``offset_s`` (the frames played so far, in seconds of video). Listeners run on the
        calling thread (the capture thread), so the replays switch passes before the pass's first frame."""
        if offset_s < self.pass_offset_s:
            raise ValueError(f"a new pass must start after the current one ({self.pass_offset_s} s). Got: {offset_s}")
        with self._pass_lock:
            self.pass_offset_s = offset_s
            self.passes += 1
            listeners = self._pass_listeners
            self._pass_begun.notify_all()
        for listener in listeners:
            listener(offset_s)


class WallReplayClock(_Passes):
    """Trace time ``t_s`` happens at ``start_s + t_s`` on the runtime clock (real-time replay)."""

    def __init__(self, start_s: float | None = None) -> None:
        super().__init__()
        self.start_s = now_s() if start_s is None else start_s

    def wait_until(self, t_s: float, timeout_s: float | None) -> bool:
        """As :meth:`ReplayClock.wait_until`; a new pass of a looping video ends the wait early (False)."""
        due_s = self.start_s + t_s
        begun_s = now_s()
        if begun_s >= due_s:
            return True
        deadline_s = due_s if timeout_s is None else min(due_s, begun_s + max(timeout_s, 0.0))
        with self._pass_begun:
            passes = self.passes
            while self.passes == passes and (remaining_s := deadline_s - now_s()) > 0:
                self._pass_begun.wait(remaining_s)
            if self.passes != passes:
                return False
        return now_s() >= due_s

    def to_runtime_s(self, t_s: float) -> float:
        return self.start_s + t_s


class MediaClock(_Passes):
    """A timeline driven by a video: each decoded frame advances it to the frame's media time.

    Used with ``every_frame`` playback, where the video runs faster or slower than real time. The
    timeline is anchored once, at the first frame: timeline time ``t_s`` is ``origin_s + t_s`` on the
    runtime clock, for frames (the source re-stamps them) and for trace readings alike. A reading is
    released once the video has reached its time, so frame/sensor skews match the recording even
    when the capture thread runs a few frames ahead of inference. A looping file goes back to media
    time 0 on each pass; the timeline does not (:meth:`new_pass`): a frame at media time ``m`` of the
    pass starting at ``offset_s`` is at ``offset_s + m``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._media_t_s = -1.0
        self._origin_s: float | None = None
        self._closed = False
        self._listeners: list[Callable[[float], object]] = []

    def subscribe(self, on_advance: Callable[[float], object]) -> None:
        """Call ``on_advance(t_s)`` (the timeline's time) after each :meth:`advance`, on the video's thread."""
        with self._cond:
            self._listeners = [*self._listeners, on_advance]

    def unsubscribe(self, on_advance: Callable[[float], object]) -> None:
        with self._cond:
            self._listeners = [f for f in self._listeners if f != on_advance]

    def advance(self, media_t_s: float, timestamp_s: float) -> float:
        """Called by the video source with each frame's media time (in the file) and capture timestamp;
        returns the frame's time on the timeline (``media_t_s`` plus the current pass's offset)."""
        t_s = self.pass_offset_s + media_t_s
        with self._cond:
            if self._origin_s is None:
                self._origin_s = timestamp_s - t_s
            self._media_t_s = t_s
            self._cond.notify_all()
            listeners = self._listeners
        for on_advance in listeners:
            on_advance(t_s)
        return t_s

    def reached(self, t_s: float) -> bool:
        """Whether the video has reached timeline time ``t_s`` (to the traces' rounding)."""
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
