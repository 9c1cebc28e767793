"""The capture process: ``python -m edge_sdk.pipeline.capture_child <fd>``, started by
:class:`~edge_sdk.pipeline.capture_process.ProcessFrameSource`, which explains the design; the
messages are :mod:`~edge_sdk.pipeline.capture_wire`'s.

It opens the frame source the parent's :class:`~edge_sdk.sources.config.CameraConfig` names, reads
it (decode, pacing and reconnects happen here, in the source, as on a capture thread) and copies
each frame into a free slot of the parent's :class:`~edge_sdk.pipeline.frame_ring.FrameRing`. When
the parent sent the serving model's :class:`~edge_sdk.preprocess.image_tensor.ImageTensorMaker`
(``prepare``), the frame's image input is made here too and written after the pixels. Frames go
to the parent in batches (``B``): up to ``batch_frames`` (half the ring, for every_frame playback;
one for realtime sources, which must not wait for the next frame), or fewer when no slot is free,
``LINGER_S`` after the batch's first frame, or at the end. A listener thread takes the parent's messages; at end of file on the socket (the parent died: SIGKILL,
OOM kill, a crash) it stops the source and the process exits, so no capture process outlives its
runtime. SIGINT and SIGTERM are ignored (a terminal and systemd signal the whole group): the parent
decides when capture stops.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections import deque

import numpy as np

from edge_sdk._child import child_socket
from edge_sdk.errors import InputError, SourceError
from edge_sdk.pipeline import capture_wire as wire
from edge_sdk.pipeline.frame_ring import FrameRing, tensor_offset
from edge_sdk.preprocess.image_tensor import ImageTensorMaker
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import RunningMode
from edge_sdk.sources.frame import Frame

__all__ = ["LINGER_S", "main"]

log = logging.getLogger(__name__)

_EXIT_GRACE_S = 5.0  # parent gone: a read blocked in a driver gets this long before the process exits anyway
LINGER_S = 0.02  # longest a decoded frame waits for the rest of its batch (checked after each read)


class _Ring:
    """The child's view of the ring: which slots the parent gave back, and the segments it offers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.ring: FrameRing | None = None
        self._offered: tuple[str, int, int] | None = None  # ("ring", name, slots, slot_bytes) from the parent
        self._free: deque[int] = deque()
        self.stopped = False
        self.maker: tuple[int, ImageTensorMaker | None] = (0, None)  # the parent's latest, by its generation

    def give_back(self, slots: list[int]) -> None:
        with self._cond:
            self._free.extend(slots)
            self._cond.notify()

    def prepare_with(self, generation: int, maker: ImageTensorMaker | None) -> None:
        self.maker = (generation, maker)  # replaced whole: read once per frame by the capture loop

    def offer(self, name: str, slots: int, slot_bytes: int) -> None:
        with self._cond:
            self._offered = (name, slots, slot_bytes)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    def take_slot(self, wait: bool = True) -> int | None:
        """A free slot, waiting for the parent to copy one out (drop policy ``block``) unless not ``wait``;
        None once stopped, or when none is free and not ``wait``."""
        with self._cond:
            if not self._free:
                if not wait:
                    return None
                self._cond.wait_for(lambda: self._free or self.stopped)
            return None if self.stopped else self._free.popleft()

    def replace(self, sock: socket.socket, frame_bytes: int) -> FrameRing | None:
        """A ring whose slots hold ``frame_bytes``: once every slot of the old one is back, ask the parent for it."""
        with self._cond:
            if self.ring is not None:
                slots = self.ring.slots
                self._cond.wait_for(lambda: len(self._free) == slots or self.stopped)
                self.ring.close()
                self.ring = None
            if self.stopped:
                return None
            self._offered = None
            self._free.clear()
            sock.send(wire.control("need_ring", frame_bytes))
            self._cond.wait_for(lambda: self._offered is not None or self.stopped)
            if self.stopped or self._offered is None:
                return None
            name, slots, slot_bytes = self._offered
            self.ring = FrameRing.attach(name, slots, slot_bytes)
            self._free.extend(range(slots))
        sock.send(wire.control("attached", name))
        return self.ring


def _counters(source: FrameSource) -> wire.Counters:
    stats = source.stats()
    return stats.state, stats.read_failures, stats.reconnects, stats.frames_skipped, stats.loops


def _listen(sock: socket.socket, ring: _Ring, source: FrameSource) -> None:
    """The parent's messages; its ``stop``, or its end, ends capture."""
    while True:
        try:
            message = sock.recv(wire.MAX_MESSAGE_BYTES)
        except OSError:
            message = b""
        if not message:
            log.warning("capture process: the runtime process is gone; stopping")
            # a read blocked in a driver must not keep an orphan alive
            timer = threading.Timer(_EXIT_GRACE_S, os._exit, args=(0,))
            timer.daemon = True
            timer.start()
            break
        if message[:1] == wire.FREE:
            ring.give_back(wire.parse_free(message))
            continue
        control = wire.parse_control(message)
        if control[0] == "stop":
            break
        if control[0] == "ring":
            ring.offer(*control[1:])
        elif control[0] == "prepare":
            ring.prepare_with(*control[1:])
    ring.stop()
    source.close()  # wakes a reconnect backoff or pacing wait at once


class _Batcher:
    """The frames written to slots and not yet sent, and which image inputs the parent can already read."""

    def __init__(self, sock: socket.socket, source: FrameSource, batch_frames: int) -> None:
        self.sock, self.source, self.batch_frames = sock, source, batch_frames
        # packed records, not frames: a decoded frame's buffer is free for the next read at once (in a loop
        # alone, 8 frames held made a 192x192 read 61 us instead of 40; a pipeline showed no difference)
        self._frames: list[bytes] = []
        self._first_s = 0.0
        self._described: set[tuple[int, tuple[int, ...]]] = set()  # (generation, frame shape) the parent knows

    def describe(self, generation: int, frame_shape: tuple[int, ...], tensor: np.ndarray, transform: object) -> None:
        """Tell the parent, once per maker and frame size, the tensor's shape and type and the frame transform
        (the same for every frame of that size), ahead of the batch that needs them."""
        key = (generation, frame_shape)
        if key not in self._described:
            self._described.add(key)
            self.sock.send(wire.control("prepared", generation, frame_shape, tensor.shape, tensor.dtype.str, transform))

    def add(self, slot: int, frame: Frame, prepared_by: int, prepare_ms: float) -> None:
        now = time.monotonic()
        if not self._frames:
            self._first_s = now
        self._frames.append(wire.frame_record(slot, frame, prepared_by, prepare_ms))
        if len(self._frames) >= self.batch_frames or now - self._first_s >= LINGER_S:
            self.flush()

    def flush(self) -> None:
        if self._frames:
            self.sock.send(wire.batch(self._frames, _counters(self.source)))
            self._frames.clear()


def _make_input(maker: ImageTensorMaker | None, frame: Frame) -> tuple[np.ndarray | None, object, float]:
    """The frame's image input, its transform and how long it took; None for no maker or a bad frame (the
    runtime prepares that one again and reports it as it always did)."""
    if maker is None:
        return None, None, 0.0
    started_s = time.perf_counter()
    try:
        tensor, transform = maker.make(frame.pixels, frame.color_order)
    except InputError:
        return None, None, 0.0
    return tensor, transform, (time.perf_counter() - started_s) * 1000.0


def _capture(source: FrameSource, ring: _Ring, batcher: _Batcher, every_frame: bool) -> None:
    sock = batcher.sock
    try:
        while not ring.stopped:
            frame = source.read()
            if frame is None:
                batcher.flush()
                sock.send(wire.control("end", _counters(source)))
                return
            pixels = frame.pixels
            while True:  # until the ring fits the frame and the input of the maker it was made with
                generation, maker = ring.maker
                tensor, transform, prepare_ms = _make_input(maker, frame)
                needed = pixels.nbytes if tensor is None else tensor_offset(pixels.nbytes) + tensor.nbytes
                buffers = ring.ring
                if buffers is not None and buffers.fits(needed):
                    break
                batcher.flush()  # its slots must come back before the ring is replaced
                buffers = ring.replace(sock, needed)
                if buffers is None:
                    return
                batcher.batch_frames = max(1, buffers.slots // 2) if every_frame else 1
                if ring.maker[0] == generation:
                    break  # else the parent changed models while the ring was made: made again with the new one
            slot = ring.take_slot(wait=False)
            if slot is None:  # the parent has every other slot: what waits goes first
                batcher.flush()
                slot = ring.take_slot()
                if slot is None:
                    return
            np.copyto(buffers.view(slot, pixels.shape), pixels)
            if tensor is not None:
                batcher.describe(generation, pixels.shape, tensor, transform)
                np.copyto(buffers.view(slot, tensor.shape, tensor.dtype, tensor_offset(pixels.nbytes)), tensor)
            batcher.add(slot, frame, generation if tensor is not None else 0, prepare_ms)
    except BaseException as exc:  # noqa: BLE001 - a SourceError, or a bug in a source: the parent raises it
        if ring.stopped or (isinstance(exc, OSError) and not isinstance(exc, SourceError)):
            return  # stopped, or a send failed: the parent is gone (the listener says so)
        try:
            batcher.flush()  # the frames read before the failure are the run's
            sock.send(wire.control("error", type(exc).__name__, str(exc), _counters(source)))
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    sock = child_socket(argv, "edge_sdk.pipeline.capture_child", "ProcessFrameSource")
    if sock is None:
        return 2
    message = sock.recv(wire.MAX_MESSAGE_BYTES)
    if not message:
        return 0  # the parent gave up before configuring this process
    _, config, log_level = wire.parse_control(message)
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from edge_sdk.sources.factory import open_frame_source

    try:
        source = open_frame_source(config)
    except BaseException as exc:  # noqa: BLE001 - ConfigError, SourceError, MissingDependencyError: raised by the parent
        sock.send(wire.control("error", type(exc).__name__, str(exc), None))
        return 1
    # the parent re-stamps frames on the run's media clock, which trace replays follow there; a looping
    # file's new pass goes there too, on the capture thread, so it arrives before the pass's first frame
    source.media_clock = None
    batcher = _Batcher(sock, source, 1)

    def new_pass(offset_s: float) -> None:
        batcher.flush()  # the last pass's frames arrive before the pass that follows them
        sock.send(wire.control("pass", offset_s))

    source.on_pass(new_pass)
    ring = _Ring()
    listener = threading.Thread(target=_listen, args=(sock, ring, source), name="edge-capture-listen", daemon=True)
    try:
        sock.send(wire.control("ready", source.name))
        listener.start()
        _capture(source, ring, batcher, config.mode is RunningMode.EVERY_FRAME)
        ring.stop()
    finally:
        source.close()
        if ring.ring is not None:
            ring.ring.close()
    listener.join(_EXIT_GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
