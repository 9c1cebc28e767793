"""The narrow interface every frame source implements, and the pacing and backoff they share.

A source is read from one thread (the capture thread). ``close()`` may come from another thread: it
first wakes any backoff or pacing wait, then waits for an in-flight read to return before releasing
the device, so OpenCV never sees a release during a read.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from edge_sdk.clock import MediaClock, PassListener, now_s
from edge_sdk.errors import SourceError
from edge_sdk.sources.config import RunningMode
from edge_sdk.sources.frame import Frame

__all__ = ["Backoff", "FrameSource", "Pacer", "SourceState", "SourceStats"]

log = logging.getLogger(__name__)


class SourceState(enum.Enum):
    OPEN = "open"
    RECONNECTING = "reconnecting"
    ENDED = "ended"  # end of file/clip without loop: read() returns None
    FAILED = "failed"  # gave up; read() raises
    CLOSED = "closed"


@dataclass(frozen=True)
class SourceStats:
    name: str
    state: str
    frames_read: int
    read_failures: int
    reconnects: int
    frames_skipped: int  # realtime playback: frames passed over because the reader was late
    loops: int


class FrameSource:
    """Base of frame sources: ``read() -> Frame | None`` (None at end of stream), ``close()``.

    ``mode`` is the run's :class:`RunningMode`; the capture hand-off and the pipeline read it from
    here. ``media_clock``, when set, re-stamps frames on the media timeline (see ``read``).

    A looping file source calls :meth:`_begin_pass` when it wraps to its first frame: the media clock
    and the :meth:`on_pass` listeners (a real-time run's trace clock) learn where the new pass starts
    on the unwrapped timeline, so trace replays loop with the video.
    """

    def __init__(self, name: str, media_clock: MediaClock | None = None,
                 mode: RunningMode = RunningMode.REALTIME) -> None:
        self.name = name
        self.mode = mode
        self.media_clock = media_clock
        self._state = SourceState.OPEN
        self._stop = threading.Event()  # set by close(): interrupts waits
        self._io_lock = threading.Lock()
        self._frames_read = 0
        self._read_failures = 0
        self._reconnects = 0
        self._frames_skipped = 0
        self._loops = 0
        self._pass_listeners: list[PassListener] = []

    def on_pass(self, listener: PassListener) -> None:
        """Call ``listener(offset_s)`` on the reading thread each time a looping file starts over, before the new
        pass's first frame is read: the pass starts ``offset_s`` seconds of video after the first pass did."""
        self._pass_listeners.append(listener)

    def _begin_pass(self, offset_s: float) -> None:
        if self.media_clock is not None:
            self.media_clock.new_pass(offset_s)
        for listener in self._pass_listeners:
            listener(offset_s)

    @property
    def state(self) -> SourceState:
        return self._state

    def read(self) -> Frame | None:
        """The next frame, None at end of stream; raises SourceError if the source gave up."""
        with self._io_lock:
            if self._state is SourceState.CLOSED:
                raise SourceError(f"{self.name}: read() after close()")
            if self._state is SourceState.ENDED:
                return None
            frame = self._read()
            if frame is None:
                if self._state is not SourceState.CLOSED:
                    self._state = SourceState.ENDED
                    if self.media_clock is not None:
                        self.media_clock.close()
                return None
            self._frames_read += 1
            if self.media_clock is not None and frame.media_t_s is not None:
                t_s = self.media_clock.advance(frame.media_t_s, frame.timestamp_s)
                # on the media timeline (unwrapped across loops), so frames and replayed readings compare
                # directly; media_t_s stays the position in the file (ground truth is looked up by it)
                # the constructor, not dataclasses.replace: this runs per frame and replace is slow
                frame = Frame(frame.pixels, frame.color_order, self.media_clock.to_runtime_s(t_s),
                              frame.index, frame.source, frame.media_t_s, frame.read_ms, frame.timestamp_s,
                              frame.prepared)
            return frame

    def close(self) -> None:
        """Release the device. Idempotent; safe from another thread than the reader."""
        self._stop.set()
        with self._io_lock:
            if self._state is SourceState.CLOSED:
                return
            self._state = SourceState.CLOSED
            try:
                self._release()
            finally:
                if self.media_clock is not None:
                    self.media_clock.close()

    def stats(self) -> SourceStats:
        return SourceStats(self.name, self._state.value, self._frames_read, self._read_failures, self._reconnects,
                           self._frames_skipped, self._loops)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._state.value}>"

    # subclasses ---------------------------------------------------------------------------------
    def _read(self) -> Frame | None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class Backoff:
    """Exponential backoff between reopen attempts: min, 2*min, ... capped at max; reset on success."""

    def __init__(self, min_s: float, max_s: float, max_attempts: int | None, stop: threading.Event) -> None:
        self.min_s, self.max_s, self.max_attempts, self._stop = min_s, max_s, max_attempts, stop
        self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0

    def wait(self) -> bool:
        """Sleep before the next attempt; False if stopped or out of attempts."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return False
        delay_s = min(self.max_s, self.min_s * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return not self._stop.wait(delay_s)


class Pacer:
    """Real-time pacing of recorded media: frame k is due at ``start + k / fps``.

    :meth:`late_frames` says how many frames to pass over when the reader fell behind (like a
    camera, a late reader sees the current frame, not a backlog), :meth:`wait` sleeps until the
    frame is due. The play counter keeps growing across loops so pacing never restarts.
    """

    def __init__(self, fps: float, stop: threading.Event) -> None:
        if not math.isfinite(fps) or fps <= 0:
            raise SourceError(f"cannot pace playback: expected a positive frame rate. Got: {fps}")
        self.period_s = 1.0 / fps
        self._stop = stop
        self._start_s: float | None = None

    def late_frames(self, play_index: int) -> int:
        if self._start_s is None:
            return 0
        late_s = now_s() - (self._start_s + play_index * self.period_s)
        return int(late_s / self.period_s) if late_s > self.period_s else 0

    def wait(self, play_index: int) -> None:
        if self._start_s is None:
            self._start_s = now_s() - play_index * self.period_s
            return
        delay_s = self._start_s + play_index * self.period_s - now_s()
        if delay_s > 0:
            self._stop.wait(delay_s)
