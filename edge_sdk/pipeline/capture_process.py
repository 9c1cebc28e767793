"""Capture and decode in a process of their own (``camera.capture: process``), frames in shared memory.

Why a process: on a capture thread, reading and decoding share the runtime's interpreter lock with
the inference worker; the frame source's per-frame Python (pacing, stamping, stats) and OpenCV's
hand-back of each decoded frame wait for the lock, and make the worker wait. In a child process
(:mod:`edge_sdk.pipeline.capture_child`) the source runs on its own interpreter, as Frigate's
camera processes do, and only small messages cross the socket pair. Measured (``make bench-runtime``,
side by side, 2 cores, a shared machine): 0.7-1.9x the results per second of a capture thread for
640x640 video (median 1.08), where decode is most of a frame's cost, 0.55-1.2x for 192x192 (median
0.8), and about 75 MB more memory (the child's own OpenCV). So the default stays the thread;
``camera.capture: auto`` picks the process on two or more CPUs (as ``mqtt.delivery: auto`` does),
``process`` always.

:class:`ProcessFrameSource` *is* a :class:`~edge_sdk.sources.base.FrameSource`: the pipeline's
capture thread reads it like any other, so the slot, its drop policy and everything after it are
unchanged. Per frame the child copies the decoded pixels into a free slot of a
:class:`~edge_sdk.pipeline.frame_ring.FrameRing` and sends the slot, the shape and the frame's
metadata (index, timestamps, media time, read time, colour order, the source's counters); this side
copies the slot out into an array of its own and gives the slot back (see
:mod:`~edge_sdk.pipeline.capture_wire`).

Frame lifetime: copied out. A frame's pixels are an ordinary array its holders own as long as they
like (a snapshot or an index observer keeps frames beyond the worker's loop), so nothing downstream
changes; the copy costs one memcpy of the frame (70-100 us for 768x576 here, see docs/benchmarks.md).
The ring (``RING_SLOTS``) is therefore short: a slot is busy only between the child's copy in and
this side's copy out, and the child waits for a free slot (drop policy ``block`` at the ring). The
run's drop policy stays where it was, in the capture slot: ``latest`` drops the oldest unread frame
for realtime sources, ``block`` holds the capture thread for every_frame playback, which then stops
reading the socket and, once the ring is full, the child. A frame larger than a slot (a stream that
reconnects at a new size, a folder of images) makes the child wait for every slot, then ask for a
new ring (``need_ring``).

The child is ``python -m edge_sdk.pipeline.capture_child <fd>``, a fresh interpreter like the MQTT
delivery process, not ``fork``: by the time the source opens, the runtime has TFLite, paho and
OpenCV threads running, whose locks a fork would copy in whatever state they are in; and not a
``multiprocessing`` spawn, which would re-run the user's ``__main__`` script.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing import resource_tracker
from typing import Any, NoReturn

from edge_sdk import errors
from edge_sdk._child import exit_text
from edge_sdk.clock import MediaClock
from edge_sdk.errors import SourceError
from edge_sdk.pipeline import capture_wire as wire
from edge_sdk.pipeline.frame_ring import FrameRing
from edge_sdk.sources.base import FrameSource, SourceStats
from edge_sdk.sources.config import CameraConfig, RunningMode
from edge_sdk.sources.factory import open_frame_source
from edge_sdk.sources.frame import Frame

__all__ = ["RING_SLOTS", "CaptureChild", "ProcessFrameSource", "open_capture_source"]

log = logging.getLogger(__name__)

RING_SLOTS = 3  # one being written, one being copied out, one spare; more only add memory (frames are copied out)
_OPEN_TIMEOUT_S = 30.0  # the child imports numpy and OpenCV (under a second on a Pi) and opens the source
_STOP_TIMEOUT_S = 5.0
_RAISED = {name: getattr(errors, name) for name in ("ConfigError", "SourceError", "MissingDependencyError")}


@dataclass(frozen=True)
class CaptureChild:
    """A started capture process waiting for its configuration (see :meth:`spawn`)."""

    process: subprocess.Popen[bytes]
    sock: socket.socket

    @classmethod
    def spawn(cls) -> CaptureChild:
        """Start the interpreter now (it imports OpenCV meanwhile), to be configured by ``ProcessFrameSource(child=)``."""
        # the ring's first segment registers with multiprocessing's resource tracker, a Python process of its own:
        # started here, not at the first frame, where its start-up (0.1-0.3 s) delayed the run's first result
        resource_tracker.ensure_running()
        try:
            ours, theirs = wire.socketpair()
        except OSError as exc:  # SOCK_SEQPACKET over AF_UNIX: Linux has it, macOS does not
            raise SourceError(f"camera.capture: process needs a SOCK_SEQPACKET socket pair, which this system "
                              f"lacks ({exc}). Expected camera.capture: thread here") from exc
        try:
            process = subprocess.Popen([sys.executable, "-m", "edge_sdk.pipeline.capture_child", str(theirs.fileno())],
                                       pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            raise SourceError(f"cannot start the capture process ({sys.executable}): {exc}") from exc
        finally:
            theirs.close()
        return cls(process, ours)

    def close(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """End the process: ask it to stop, then kill it if it does not; idempotent."""
        with contextlib.suppress(OSError):
            self.sock.send(wire.control("stop"))
        self.sock.close()  # end of file: a child still waiting for its configuration exits
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("capture process %d did not stop within %.1f s: killing it", self.process.pid, timeout_s)
            self.process.kill()
            self.process.wait(timeout_s)

    def exit_text(self) -> str:
        """How the process ended, for messages."""
        return exit_text(self.process)


class ProcessFrameSource(FrameSource):
    """The frame source ``config`` names, read and decoded in a capture process; see the module docstring.

    Opening raises what :func:`~edge_sdk.sources.factory.open_frame_source` would (ConfigError,
    SourceError, MissingDependencyError), with the child's message. A failing source, or a child
    that dies, makes :meth:`read` raise SourceError. ``stats()`` has the child source's counters
    as of the last frame.
    """

    def __init__(self, config: CameraConfig, *, ring_slots: int = RING_SLOTS, child: CaptureChild | None = None,
                 open_timeout_s: float = _OPEN_TIMEOUT_S) -> None:
        if ring_slots < 1:
            raise ValueError(f"ring_slots must be at least 1. Got: {ring_slots}")
        # every_frame: the run's media clock lives here, advanced as frames arrive (trace replays follow it)
        super().__init__(config.name or "capture", MediaClock() if config.mode is RunningMode.EVERY_FRAME else None,
                         config.mode)
        self.config, self.ring_slots = config, ring_slots
        self._child = child or CaptureChild.spawn()
        self._sock = self._child.sock
        self._ring: FrameRing | None = None
        self._counters: wire.Counters = ("open", 0, 0, 0, 0)
        try:
            self._sock.send(wire.control("config", config, logging.getLogger().getEffectiveLevel()))
            self._sock.settimeout(open_timeout_s)
            try:
                message = self._sock.recv(wire.MAX_MESSAGE_BYTES)
            except TimeoutError:
                raise SourceError(f"{config.source}: the capture process did not open the source within "
                                  f"{open_timeout_s:.0f} s") from None
            self._sock.settimeout(None)  # blocking from now on: close() wakes a waiting read (shutdown)
            if not message:
                raise SourceError(f"{config.source}: the capture process {self._child.exit_text()} while "
                                  f"opening the source")
            ready = wire.parse_control(message)
            if ready[0] == "error":
                self._raise_child_error(ready)
            self.name = ready[1]
        except BaseException:
            self._child.close()
            raise

    @property
    def pid(self) -> int:
        """The capture process's."""
        return self._child.process.pid

    @property
    def shm_name(self) -> str | None:
        """The ring's shared-memory name, None before the first frame (unlinked once both processes mapped it)."""
        return None if self._ring is None else self._ring.name

    def stats(self) -> SourceStats:
        own = super().stats()
        state, failures, reconnects, skipped, loops = self._counters
        # the child's state tells a reconnect apart while this side waits; once this side ended, it says so
        shown = state if own.state == "open" else own.state
        return SourceStats(own.name, shown, own.frames_read, failures, reconnects, skipped, loops)

    def close(self) -> None:
        """Stop the capture process and release the ring; idempotent, safe from another thread than the reader."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.send(wire.control("stop"))  # first, so that the child never takes the shutdown for a crash
        with contextlib.suppress(OSError):  # wakes a read waiting in recv() at once (it gets end of file)
            self._sock.shutdown(socket.SHUT_RD)
        super().close()

    def _read(self) -> Frame | None:
        sock = self._sock
        while True:
            try:
                message = sock.recv(wire.MAX_MESSAGE_BYTES)
            except OSError:
                message = b""
            if not message:  # end of file: close() shut the socket, or the child is gone
                if self._stop.is_set():
                    return None
                self._lost()
            kind = message[:1]
            if kind == wire.FRAME:
                slot, shape, index, timestamp_s, media_t_s, read_ms, color_order, self._counters = wire.parse_frame(message)
                assert self._ring is not None  # the child asks for a ring before its first frame
                pixels = self._ring.view(slot, shape).copy()
                sock.send(wire.free(slot))
                # the child's capture instant: FrameSource.read re-stamps it on the media clock for every_frame
                return Frame(pixels, color_order, timestamp_s, index, self.name, media_t_s, read_ms)
            if kind != wire.CONTROL:
                raise SourceError(f"{self.name}: unexpected message from the capture process: {message[:16]!r}")
            control = wire.parse_control(message)
            kind = control[0]
            if kind == "need_ring":  # every slot of the old ring is back: nothing refers to it
                if self._ring is not None:
                    self._ring.close()
                self._ring = FrameRing.create(self.ring_slots, control[1])
                sock.send(wire.control("ring", self._ring.name, self._ring.slots, self._ring.slot_bytes))
            elif kind == "attached" and self._ring is not None:
                self._ring.unlink()  # both processes have it mapped: no name left behind, whatever happens next
            elif kind == "pass":  # the file looped: the media clock and the trace clock learn where the pass starts
                self._begin_pass(control[1])
            elif kind == "end":
                self._counters = control[1]
                return None
            elif kind == "error":
                self._raise_child_error(control)

    def _raise_child_error(self, message: tuple[Any, ...]) -> NoReturn:
        _, kind, text, counters = message
        if counters is not None:
            self._counters = counters
        raised = _RAISED.get(kind)
        if raised is not None:
            raise raised(text)
        raise SourceError(f"{self.name}: the frame source failed in the capture process: {kind}: {text}")

    def _lost(self) -> NoReturn:
        raise SourceError(f"{self.name}: the capture process (pid {self.pid}) {self._child.exit_text()}")

    def _release(self) -> None:
        self._child.close()
        if self._ring is not None:
            self._ring.close()


def open_capture_source(config: CameraConfig, *, child: CaptureChild | None = None) -> FrameSource:
    """The run's frame source: in a capture process when ``config.capture_in_process``, else in this one."""
    if config.capture_in_process:
        return ProcessFrameSource(config, child=child)
    if child is not None:
        child.close()
    return open_frame_source(config)
