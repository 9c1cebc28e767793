"""Latest-value holders with a max age, and the threads that feed them from lines or traces.

Text and sensor inputs change at their own pace, independent of the camera. Producers (stdin, a
file, an MQTT handler, the firmware bridge) store ``(value, timestamp_s)`` readings; the aligner
asks per frame for the newest reading taken at or before the frame. A short history is kept because
the inference worker may lag the capture thread by a few frames, and by then newer readings have
arrived. A reading older than ``max_age_s`` counts as missing. Timestamps are on the runtime clock
(:func:`edge_sdk.clock.now_s`).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import IO, Generic, Self, TypeVar

from edge_sdk.clock import TIME_EPSILON_S, MediaClock, ReplayClock, now_s

__all__ = ["InputRejected", "LatestValue", "LineFeeder", "TraceReplay"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP_POLL_S = 0.1  # replay waits are sliced so close() takes effect promptly
_LOGGED_REJECTS = 5  # then only counted, so a noisy producer cannot flood the log
_HISTORY = 128  # readings kept for a worker that lags capture (a 100 Hz sensor: 1.3 s)


class InputRejected(ValueError):
    """A malformed input: ``reason`` is a short code for counting (``not_json``, ``non_finite``...),
    the message says what was expected and what came."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LatestValue(Generic[T]):
    """The newest value and its runtime timestamp; thread-safe; counts updates and rejected input."""

    def __init__(self, name: str, max_age_s: float | None = None) -> None:
        if max_age_s is not None and max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive or None. Got: {max_age_s}")
        self.name, self.max_age_s = name, max_age_s
        self._cond = threading.Condition(threading.Lock())
        self._reading: tuple[T, float] | None = None
        self._history: collections.deque[tuple[T, float]] = collections.deque(maxlen=_HISTORY)
        self._feeders: list[LineFeeder | TraceReplay] = []
        self._closed = False
        self.updates = 0
        self.rejected = 0
        self.rejected_by: dict[str, int] = {}  # reason code -> count: every rejection, logged or not
        self.last_error: str | None = None
        self.advice: str | None = None  # what to check when frames lack this input (set by the source)

    def _store(self, value: T, timestamp_s: float | None) -> None:
        reading = (value, now_s() if timestamp_s is None else timestamp_s)
        with self._cond:
            if self._reading is not None and reading[1] < self._reading[1]:
                self._history.clear()  # the clock went back (a replay restarted): forget the future
            self._reading = reading
            self._history.append(reading)
            self.updates += 1
            self._cond.notify_all()

    def reject(self, detail: str, reason: str = "malformed") -> None:
        """Count a malformed input under ``reason`` (a short code); the stream goes on.

        The log says only the first few, so a noisy producer cannot flood it; the counts by reason
        are in :meth:`stats`, hence on the stats topic and in the run's summary.
        """
        with self._cond:
            self.rejected += 1
            self.rejected_by[reason] = self.rejected_by.get(reason, 0) + 1
            self.last_error = detail
            count = self.rejected
        if count <= _LOGGED_REJECTS:
            more = "; later ones are only counted (stats: rejected_by)" if count == _LOGGED_REJECTS else ""
            log.warning("%s: rejected input (%s, %d so far): %s%s", self.name, reason, count, detail, more)

    def latest(self, at_s: float | None = None) -> tuple[T, float] | None:
        """The newest ``(value, timestamp_s)`` taken at or before ``at_s`` (default: now), or None
        when there is none or it is older than ``max_age_s`` at ``at_s``."""
        reading = self._reading  # one atomic reference read: no lock needed on the common path
        if reading is None:
            return None
        if at_s is None:
            at_s = now_s()
        elif reading[1] > at_s + TIME_EPSILON_S:  # the worker lags: find what was current at the frame's time
            limit_s = at_s + TIME_EPSILON_S
            with self._cond:
                # newest first: the one wanted is a few readings back, not a scan of the history
                found = next((r for r in reversed(self._history) if r[1] <= limit_s), None)
            if found is None:
                return None
            reading = found
        if self.max_age_s is not None and at_s - reading[1] > self.max_age_s:
            return None
        return reading

    def wait_since(self, since_s: float, timeout_s: float) -> tuple[T, float] | None:
        """Wait up to ``timeout_s`` for a reading stamped at or after ``since_s``; return the first
        such reading (the one nearest ``since_s``), or None on timeout."""
        with self._cond:
            since_s -= TIME_EPSILON_S
            if self._cond.wait_for(lambda: (self._reading is not None and self._reading[1] >= since_s) or self._closed,
                                   timeout_s):
                for reading in self._history:
                    if reading[1] >= since_s:
                        return reading
        return None

    def attach(self, feeder: LineFeeder | TraceReplay) -> None:
        """Own ``feeder`` (started here, stopped by :meth:`close`)."""
        self._feeders.append(feeder)
        feeder.start()

    def stats(self) -> dict[str, object]:
        reading = self._reading
        with self._cond:
            rejected_by = dict(sorted(self.rejected_by.items()))
        return {"name": self.name, "updates": self.updates, "rejected": self.rejected, "rejected_by": rejected_by,
                "last_error": self.last_error, "last_ts_s": None if reading is None else reading[1]}

    def close(self) -> None:
        """Stop the feeders; idempotent. The last reading stays readable."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for feeder in self._feeders:
            feeder.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()




class LineFeeder:
    """Reads text lines from a stream (stdin, a FIFO, a file) on a named thread into ``handler``.

    A blocked ``readline`` cannot be interrupted, so :meth:`stop` does not join: the daemon thread
    ends with the stream or the process.
    """

    def __init__(self, stream: IO[str], handler: Callable[[str], object], name: str, close_stream: bool = False) -> None:
        self._stream, self._handler, self._close_stream = stream, handler, close_stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.done = threading.Event()  # end of the stream reached

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            for line in self._stream:
                if self._stop.is_set():
                    break
                line = line.strip()
                if line:
                    self._handler(line)
        except (OSError, ValueError) as exc:  # a closed or broken stream ends the feed, loudly
            log.error("%s: input stream failed: %s", self._thread.name, exc)
        finally:
            self.done.set()
            if self._close_stream:
                self._stream.close()


class TraceReplay(Generic[T]):
    """Replays ``(t_s, value)`` records on a :class:`~edge_sdk.clock.ReplayClock` into a setter.

    On a :class:`~edge_sdk.clock.MediaClock` the video releases the records itself: each frame's
    ``advance`` hands over the records it reached, on the capture thread. A replay thread would wake
    for every reading, and under ``every_frame`` playback at thousands of frames per second those
    wake-ups cost more than the inference they fed. On a wall clock, a named thread sleeps until
    each record is due.

    A looping video replays the trace on every pass (the clock's ``on_pass``): on the pass that
    starts at ``offset_s`` on the clock's timeline a record is released at ``offset_s + t_s``, so
    frame/reading skews repeat those of the first pass. When a pass ends, its records due before
    the next pass starts are released; records at or after the pass's length lie beyond the video,
    where no frame of it is: they are passed over on each pass (counted in ``beyond_video``).
    """

    def __init__(self, records: Iterable[tuple[float, T]], setter: Callable[[T, float], object], clock: ReplayClock,
                 name: str) -> None:
        self.records = sorted(records, key=lambda r: r[0])
        self._setter, self._clock = setter, clock
        self._media_clock = clock if isinstance(clock, MediaClock) else None
        self._next = 0  # index of the first record of the current pass not released yet
        self._offset_s = 0.0  # where the pass being replayed starts on the clock's timeline
        self._release_lock = threading.Lock()  # start(), a new pass and the capture or replay thread all release
        self._pending = threading.Condition(self._release_lock)  # the replay thread, out of records, waits for a pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.done = threading.Event()  # every record of a pass released
        self.replayed = 0
        self.passes = 1
        self.beyond_video = 0  # records passed over at the end of a pass: at or after the video's length

    def start(self) -> None:
        self._clock.on_pass(self._on_pass)
        if self._media_clock is not None:
            self._media_clock.subscribe(self._release)
            self._release(None)  # records at or before where the video already is
        else:
            on_start = getattr(self._clock, "on_start", None)
            if callable(on_start):  # a clock that starts with the first frame: release what is due right then
                on_start(self._release_started)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._pending:
            self._pending.notify_all()
        self._clock.remove_pass_listener(self._on_pass)
        if self._media_clock is not None:
            self._media_clock.unsubscribe(self._release)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(1.0)

    def _release(self, media_t_s: float | None) -> None:
        clock = self._media_clock
        assert clock is not None
        records = self.records
        with self._release_lock:
            index, offset_s = self._next, self._offset_s
            while index < len(records) and clock.reached(offset_s + records[index][0]):
                t_s, value = records[index]
                index += 1
                self._next = index
                self._setter(value, clock.to_runtime_s(offset_s + t_s))
                self.replayed += 1
        if index == len(records):
            self.done.set()

    def _release_upto(self, limit_t_s: float) -> None:
        """Release, in order, the records of the current pass not released yet whose timeline time is at or
        before ``limit_t_s``."""
        records = self.records
        with self._release_lock:
            offset_s = self._offset_s
            while self._next < len(records) and offset_s + records[self._next][0] <= limit_t_s:
                t_s, value = records[self._next]
                self._next += 1
                self._setter(value, self._clock.to_runtime_s(offset_s + t_s))
                self.replayed += 1

    def _release_started(self) -> None:
        """On the thread that starts the clock (the first frame's): what is due at once, stamped on the new start."""
        start_s = getattr(self._clock, "start_s", None)
        if start_s is not None and not self._stop.is_set():
            self._release_upto(now_s() - start_s)

    def _on_pass(self, offset_s: float) -> None:
        """The video looped (on its reading thread, before the new pass's first frame): finish this pass, start the next."""
        records = self.records
        with self._release_lock:
            length_s = offset_s - self._offset_s
            # due before the next pass's first frame: released now, stamped on this pass
            while self._next < len(records) and records[self._next][0] < length_s - TIME_EPSILON_S:
                t_s, value = records[self._next]
                self._next += 1
                self._setter(value, self._clock.to_runtime_s(self._offset_s + t_s))
                self.replayed += 1
            beyond = len(records) - self._next
            if beyond and not self.beyond_video:
                log.info("%s: %d records at t_s >= %.3f s lie beyond the video's %.3f s; each pass of the looped "
                         "video passes over them", self._thread.name, beyond, records[self._next][0], length_s)
            self.beyond_video += beyond
            self._offset_s, self._next = offset_s, 0
            self.passes += 1
            self._pending.notify_all()
        if self._media_clock is None and getattr(self._clock, "started", True):
            # the pass's first records, as the first frame's are at the start: at the wrap, a frame early at
            # most, so that they are there for the pass's first frame (stamped at their own instant)
            start_s = getattr(self._clock, "start_s", None)
            if start_s is not None and not self._stop.is_set():
                self._release_upto(max(now_s() - start_s, offset_s))

    def _run(self) -> None:
        records = self.records
        try:
            while records:
                with self._pending:
                    if self._next >= len(records):
                        self.done.set()  # a looping video may start a new pass; else this waits for stop()
                        self._pending.wait_for(lambda: self._stop.is_set() or self._next < len(records))
                    if self._stop.is_set():
                        return
                    due_t_s = self._offset_s + records[self._next][0]
                if not self._clock.wait_until(due_t_s, _STOP_POLL_S):
                    if self._stop.is_set() or getattr(self._clock, "closed", False):
                        return  # stopped, or the video driving the clock ended
                    continue  # not due yet, or the video looped: look again
                if self._stop.is_set():
                    return
                self._release_upto(due_t_s)
        finally:
            self.done.set()
