"""The capture process: ``python -m edge_sdk.pipeline.capture_child <fd>``, started by
:class:`~edge_sdk.pipeline.capture_process.ProcessFrameSource`, which explains the protocol.

It opens the frame source the parent's :class:`~edge_sdk.sources.config.CameraConfig` names, reads
it (decode, pacing and reconnects happen here, in the source, as on a capture thread) and copies
each frame into a free slot of the parent's :class:`~edge_sdk.pipeline.frame_ring.FrameRing`. A
reader thread takes the parent's messages; at end of file on the socket (the parent died: SIGKILL,
OOM kill, a crash) it stops the source and the process exits, so no capture process outlives its
runtime. SIGINT and SIGTERM are ignored (a terminal and systemd signal the whole group): the parent
decides when capture stops.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from edge_sdk.errors import SourceError
from edge_sdk.pipeline.frame_ring import FrameRing
from edge_sdk.sources.base import FrameSource

__all__ = ["main"]

log = logging.getLogger(__name__)

_EXIT_GRACE_S = 5.0  # parent gone: a read blocked in a driver gets this long before the process exits anyway


class _Ring:
    """The child's view of the ring: which slots the parent gave back, and ring changes it sent."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.ring: FrameRing | None = None
        self._offered: tuple[str, int, int] | None = None  # ("ring" message) the parent's new segment
        self._free: deque[int] = deque()
        self.stopped = False

    def on_message(self, message: tuple[Any, ...]) -> None:
        with self._cond:
            if message[0] == "free":
                self._free.append(message[1])
            elif message[0] == "ring":
                self._offered = message[1:]
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()

    def take_slot(self) -> int | None:
        """A free slot, waiting for the parent to copy one out ("block"); None once stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._free or self.stopped)
            return None if self.stopped else self._free.popleft()

    def replace(self, conn: Connection, frame_bytes: int) -> FrameRing | None:
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
            conn.send(("need_ring", frame_bytes))
            self._cond.wait_for(lambda: self._offered is not None or self.stopped)
            if self.stopped or self._offered is None:
                return None
            name, slots, slot_bytes = self._offered
            self.ring = FrameRing.attach(name, slots, slot_bytes)
            self._free.extend(range(slots))
        conn.send(("attached", name))
        return self.ring


def _counters(source: FrameSource) -> tuple[str, int, int, int, int]:
    stats = source.stats()
    return stats.state, stats.read_failures, stats.reconnects, stats.frames_skipped, stats.loops


def _listen(conn: Connection, ring: _Ring, source: FrameSource) -> None:
    """The parent's messages; a stop or the parent's end ends capture."""
    parent_gone = False
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            ring.on_message(message)
    except (EOFError, OSError):
        parent_gone = True
    ring.stop()
    if parent_gone:
        # a read blocked in a driver must not keep an orphan alive
        timer = threading.Timer(_EXIT_GRACE_S, os._exit, args=(0,))
        timer.daemon = True
        timer.start()
    source.close()  # wakes a reconnect backoff or pacing wait at once


def _capture(conn: Connection, source: FrameSource, ring: _Ring) -> None:
    frame_message: tuple[Any, ...]
    try:
        while not ring.stopped:
            frame = source.read()
            if frame is None:
                conn.send(("end", _counters(source)))
                return
            pixels = frame.pixels
            buffers = ring.ring
            if buffers is None or not buffers.fits(pixels.nbytes):
                buffers = ring.replace(conn, pixels.nbytes)
                if buffers is None:
                    return
            slot = ring.take_slot()
            if slot is None:
                return
            np.copyto(buffers.view(slot, pixels.shape, pixels.dtype.str), pixels)
            frame_message = ("frame", slot, pixels.shape, pixels.dtype.str, frame.index, frame.timestamp_s,
                             frame.media_t_s, frame.read_ms, frame.color_order, _counters(source))
            conn.send(frame_message)
    except BaseException as exc:  # noqa: BLE001 - a SourceError, or a bug in a source: the parent raises it
        if ring.stopped:
            return
        if isinstance(exc, (EOFError, OSError)) and not isinstance(exc, SourceError):
            log.warning("capture process: the runtime process is gone (%s)", exc)  # a send failed
            return
        try:
            conn.send(("error", type(exc).__name__, str(exc), _counters(source)))
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m edge_sdk.pipeline.capture_child <socket fd>", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(args[0]))
    try:
        _, config, log_level = conn.recv()
    except EOFError:
        return 0  # the parent gave up before configuring this process
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from edge_sdk.sources.factory import open_frame_source

    try:
        source = open_frame_source(config)
    except BaseException as exc:  # noqa: BLE001 - ConfigError, SourceError, MissingDependencyError: raised by the parent
        conn.send(("error", type(exc).__name__, str(exc), None))
        return 1
    # the parent re-stamps frames on the run's media clock, which trace replays follow there
    source.media_clock = None
    ring = _Ring()
    try:
        conn.send(("ready", source.name))
        listener = threading.Thread(target=_listen, args=(conn, ring, source), name="edge-capture-listen", daemon=True)
        listener.start()
        _capture(conn, source, ring)
        ring.stop()
    finally:
        source.close()
        if ring.ring is not None:
            ring.ring.close()
    listener.join(_EXIT_GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
