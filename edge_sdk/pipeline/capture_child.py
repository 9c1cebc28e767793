"""The capture process: ``python -m edge_sdk.pipeline.capture_child <fd>``, started by
:class:`~edge_sdk.pipeline.capture_process.ProcessFrameSource`, which explains the design; the
messages are :mod:`~edge_sdk.pipeline.capture_wire`'s.

It opens the frame source the parent's :class:`~edge_sdk.sources.config.CameraConfig` names, reads
it (decode, pacing and reconnects happen here, in the source, as on a capture thread) and copies
each frame into a free slot of the parent's :class:`~edge_sdk.pipeline.frame_ring.FrameRing`. A
listener thread takes the parent's messages; at end of file on the socket (the parent died: SIGKILL,
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
from collections import deque

import numpy as np

from edge_sdk._child import child_socket
from edge_sdk.errors import SourceError
from edge_sdk.pipeline import capture_wire as wire
from edge_sdk.pipeline.frame_ring import FrameRing
from edge_sdk.sources.base import FrameSource

__all__ = ["main"]

log = logging.getLogger(__name__)

_EXIT_GRACE_S = 5.0  # parent gone: a read blocked in a driver gets this long before the process exits anyway


class _Ring:
    """The child's view of the ring: which slots the parent gave back, and the segments it offers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.ring: FrameRing | None = None
        self._offered: tuple[str, int, int] | None = None  # ("ring", name, slots, slot_bytes) from the parent
        self._free: deque[int] = deque()
        self.stopped = False

    def give_back(self, slot: int) -> None:
        with self._cond:
            self._free.append(slot)
            self._cond.notify()

    def offer(self, name: str, slots: int, slot_bytes: int) -> None:
        with self._cond:
            self._offered = (name, slots, slot_bytes)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    def take_slot(self) -> int | None:
        """A free slot, waiting for the parent to copy one out (drop policy ``block``); None once stopped."""
        with self._cond:
            if not self._free:
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
    ring.stop()
    source.close()  # wakes a reconnect backoff or pacing wait at once


def _capture(sock: socket.socket, source: FrameSource, ring: _Ring) -> None:
    try:
        while not ring.stopped:
            frame = source.read()
            if frame is None:
                sock.send(wire.control("end", _counters(source)))
                return
            pixels = frame.pixels
            buffers = ring.ring
            if buffers is None or not buffers.fits(pixels.nbytes):
                buffers = ring.replace(sock, pixels.nbytes)
                if buffers is None:
                    return
            slot = ring.take_slot()
            if slot is None:
                return
            np.copyto(buffers.view(slot, pixels.shape), pixels)
            sock.send(wire.frame(slot, frame, _counters(source)))
    except BaseException as exc:  # noqa: BLE001 - a SourceError, or a bug in a source: the parent raises it
        if ring.stopped or (isinstance(exc, OSError) and not isinstance(exc, SourceError)):
            return  # stopped, or a send failed: the parent is gone (the listener says so)
        try:
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
    source.on_pass(lambda offset_s: sock.send(wire.control("pass", offset_s)))
    ring = _Ring()
    listener = threading.Thread(target=_listen, args=(sock, ring, source), name="edge-capture-listen", daemon=True)
    try:
        sock.send(wire.control("ready", source.name))
        listener.start()
        _capture(sock, source, ring)
        ring.stop()
    finally:
        source.close()
        if ring.ring is not None:
            ring.ring.close()
    listener.join(_EXIT_GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
