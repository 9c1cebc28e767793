"""Capture and decode in a process of their own (``camera.capture: process``), frames in shared memory.

Why a process: on a capture thread, reading and decoding share the runtime's interpreter lock with
the inference worker; the frame source's per-frame Python (pacing, stamping, stats) and OpenCV's
hand-back of each decoded frame wait for the lock, and make the worker wait. In a child process
(:mod:`edge_sdk.pipeline.capture_child`) the source runs on its own interpreter, as Frigate's
camera processes do, and only small messages cross the socket pair. Measured (``make bench-runtime``,
side by side, 2 cores, a quiet machine; docs/benchmarks.md): 1.2x the results per second of a capture
thread for the seek model on 192x192 video, where a frame's decode and preprocessing cost as much as
its invoke, 0.97x for a 1.3 ms detector on 640x480 video (the capture thread keeps up with it
already, and the process adds the frame's copy), 0.9x pinned to one core, and about 63 MB more
memory (the child's own OpenCV). So the default stays the thread; ``camera.capture: auto`` picks
the process on two or more CPUs (as ``mqtt.delivery: auto`` does), ``process`` always.

:class:`ProcessFrameSource` *is* a :class:`~edge_sdk.sources.base.FrameSource`: the pipeline's
capture thread reads it like any other, so the slot, its drop policy and everything after it are
unchanged. The child copies each decoded frame into a free slot of a
:class:`~edge_sdk.pipeline.frame_ring.FrameRing`, and with ``pipeline.prepare_ahead`` also the
serving model's image input (:meth:`prepare_with` hands it the model's
:class:`~edge_sdk.preprocess.image_tensor.ImageTensorMaker`, the one preprocessing code path, again
after a model swap), and sends the slots in batches with each frame's metadata (see
:mod:`~edge_sdk.pipeline.capture_wire`). This side copies a batch's frames out into arrays of its
own, gives the slots back in one message, and hands the frames on one at a time. So the runtime
process does no decode and no preprocessing, and during every_frame playback it wakes for the
capture process once per batch, not once per frame (:attr:`hand_overs` counts them).

Frame lifetime: copied out. A frame's pixels are an ordinary array its holders own as long as they
like (a snapshot or an index observer keeps frames beyond the worker's loop), so nothing downstream
changes; the copy costs one memcpy of the frame (70-100 us for 768x576 here, see docs/benchmarks.md).
A slot is busy only between the child's copy in and this side's copy out. The ring has
``RING_SLOTS`` slots for realtime sources, which send each frame at once; for every_frame playback
``2 * BATCH_FRAMES`` (fewer for frames so large that they would take more than ``RING_BUDGET_BYTES``),
two batches, so that the child decodes the next batch while this side hands the last one on. The child
waits for a free slot (drop policy ``block`` at the ring). The run's drop policy stays where it was,
in the capture slot: ``latest`` drops the oldest unread frame for realtime sources, ``block`` holds
the capture thread for every_frame playback, which then stops reading the socket and, once the ring
is full, the child. A frame larger than a slot (a stream that reconnects at a new size, a folder of
images, a model swapped for one with a larger input) makes the child wait for every slot, then ask for
a new ring (``need_ring``).

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
from collections import deque
from dataclasses import dataclass
from multiprocessing import resource_tracker
from typing import Any, NoReturn

from edge_sdk import errors
from edge_sdk._child import exit_text
from edge_sdk.clock import MediaClock
from edge_sdk.errors import SourceError
from edge_sdk.model import FusionModel, PreparedImage
from edge_sdk.pipeline import capture_wire as wire
from edge_sdk.pipeline.frame_ring import FrameRing, tensor_offset
from edge_sdk.preprocess.geometry import FrameTransform
from edge_sdk.sources.base import FrameSource, SourceStats
from edge_sdk.sources.config import CameraConfig, RunningMode
from edge_sdk.sources.factory import open_frame_source
from edge_sdk.sources.frame import Frame

__all__ = ["BATCH_FRAMES", "RING_BUDGET_BYTES", "RING_SLOTS", "CaptureChild", "ProcessFrameSource",
           "open_capture_source"]

log = logging.getLogger(__name__)

RING_SLOTS = 3  # realtime: one being written, one being copied out, one spare (frames are copied out)
BATCH_FRAMES = 8  # every_frame: frames per hand-over; the ring holds two batches
RING_BUDGET_BYTES = 64 << 20  # every_frame: fewer slots (smaller batches) where two batches would need more
_MAKERS_KEPT = 4  # models whose image inputs frames in flight may still carry (a swap every frame is not a use)
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
        self._every_frame = config.mode is RunningMode.EVERY_FRAME
        self.hand_off_frames = BATCH_FRAMES if self._every_frame else 1  # at most, per hand-over
        self.hand_overs = 0  # batches received
        self._child = child or CaptureChild.spawn()
        self._sock = self._child.sock
        self._ring: FrameRing | None = None
        self._counters: wire.Counters = ("open", 0, 0, 0, 0)
        self._ready: deque[Frame] = deque()  # copied out of the last batch, not yet read
        self._generation = 0
        self._makers: dict[int, FusionModel] = {}  # generation -> the model whose image input the child makes
        self._prepared: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, ...], str, FrameTransform]] = {}
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

    def prepare_with(self, model: FusionModel | None) -> None:
        """Have the child make ``model``'s image input with each frame from now on (None: stop). Frames made
        for a model that has been swapped out are made again by the runtime (:mod:`edge_sdk.pipeline.ahead`)."""
        maker = None if model is None else model.image_tensor_maker
        generation = 0
        if model is not None and maker is not None:
            self._generation = generation = self._generation + 1
            self._makers[generation] = model
            for old in [g for g in self._makers if g <= generation - _MAKERS_KEPT]:
                del self._makers[old]
            for key in [k for k in self._prepared if k[0] not in self._makers]:
                del self._prepared[key]
        with contextlib.suppress(OSError):  # the child is gone: the next read says so
            self._sock.send(wire.control("prepare", generation, maker))

    def _ring_slots(self, frame_bytes: int) -> int:
        if not self._every_frame:
            return self.ring_slots
        slot_bytes = max(frame_bytes, 1)
        return max(self.ring_slots, min(2 * BATCH_FRAMES, RING_BUDGET_BYTES // slot_bytes))

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
        if self._ready:
            return self._ready.popleft()
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
            if kind == wire.BATCH:
                self._copy_out(message)
                return self._ready.popleft()
            if kind != wire.CONTROL:
                raise SourceError(f"{self.name}: unexpected message from the capture process: {message[:16]!r}")
            control = wire.parse_control(message)
            kind = control[0]
            if kind == "need_ring":  # every slot of the old ring is back: nothing refers to it
                if self._ring is not None:
                    self._ring.close()
                self._ring = FrameRing.create(self._ring_slots(control[1]), control[1])
                sock.send(wire.control("ring", self._ring.name, self._ring.slots, self._ring.slot_bytes))
            elif kind == "attached" and self._ring is not None:
                self._ring.unlink()  # both processes have it mapped: no name left behind, whatever happens next
            elif kind == "prepared":  # how the frames of this size carry this model's image input
                _, generation, frame_shape, tensor_shape, dtype, transform = control
                self._prepared[(generation, frame_shape)] = (tensor_shape, dtype, transform)
            elif kind == "pass":  # the file looped: the media clock and the trace clock learn where the pass starts
                self._begin_pass(control[1])
            elif kind == "end":
                self._counters = control[1]
                return None
            elif kind == "error":
                self._raise_child_error(control)

    def _copy_out(self, message: bytes) -> None:
        """A batch's frames, out of their slots into arrays of this process; the slots back in one message."""
        frames, self._counters = wire.parse_batch(message)
        ring = self._ring
        assert ring is not None  # the child asks for a ring before its first frame
        self.hand_overs += 1
        for slot, shape, index, timestamp_s, media_t_s, read_ms, color_order, prepared_by, prepare_ms in frames:
            pixels = ring.view(slot, shape).copy()
            prepared = None
            model = self._makers.get(prepared_by) if prepared_by else None
            if model is not None:
                tensor_shape, dtype, transform = self._prepared[(prepared_by, shape)]
                tensor = ring.view(slot, tensor_shape, dtype, tensor_offset(pixels.nbytes)).copy()
                prepared = PreparedImage(tensor, transform, model, prepare_ms)
            # the child's capture instant: FrameSource.read re-stamps it on the media clock for every_frame
            self._ready.append(Frame(pixels, color_order, timestamp_s, index, self.name, media_t_s, read_ms,
                                     prepared=prepared))
        self._sock.send(wire.free([meta[0] for meta in frames]))

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
