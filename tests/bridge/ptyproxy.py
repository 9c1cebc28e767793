"""A man in the middle on real ptys: forwards bytes between a device port and a new pty,
optionally corrupting what the device sends (``corrupt``) and what the host sends
(``corrupt_to_device``). Used to inject line noise into real links."""

from __future__ import annotations

import os
import random
import select
import threading
import tty
from collections.abc import Callable

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol.messages import Frame, decode_frame


class PtyProxy:
    def __init__(
        self,
        device_path: str,
        corrupt: Callable[[bytes], bytes] | None = None,
        corrupt_to_device: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._device_fd = os.open(device_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._device_fd)
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # held open so the master never sees a hangup
        self._corrupt = corrupt
        self._corrupt_to_device = corrupt_to_device
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-proxy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._device_fd, self._master], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if fd == self._device_fd:
                    os.write(
                        self._master, self._corrupt(data) if self._corrupt else data
                    )
                else:
                    os.write(self._device_fd, self._corrupt_to_device(data) if self._corrupt_to_device else data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self._device_fd, self._master, self._slave):
            os.close(fd)

    def __enter__(self) -> PtyProxy:  # noqa: PYI034 (not meant for subclassing)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def byte_noise(rate: float, seed: int = 1) -> Callable[[bytes], bytes]:
    """Flip, drop or insert a byte with probability ``rate`` per byte."""
    rng = random.Random(seed)

    def corrupt(data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            r = rng.random()
            if r < rate / 3:
                out.append(b ^ (1 << rng.randrange(8)))
            elif r < 2 * rate / 3:
                continue
            elif r < rate:
                out += bytes((b, rng.randrange(256)))
            else:
                out.append(b)
        return bytes(out)

    return corrupt


class FrameFilter:
    """Drops whole frames that ``drop(frame)`` picks, passes the others; counts what it dropped.

    The simulator and the link write one frame per write(), but a read may join or split them, so
    bytes are cut at each 0x00 and a partial frame waits for the rest.
    """

    def __init__(self, drop: Callable[[Frame], bool]) -> None:
        self._drop = drop
        self._partial = b""
        self.dropped: list[Frame] = []
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        *complete, self._partial = (self._partial + data).split(b"\x00")
        for stuffed in complete:
            try:
                frame = decode_frame(stuffed)
            except ProtocolError:
                frame = None
            if frame is not None and self._drop(frame):
                with self._lock:
                    self.dropped.append(frame)
                continue
            out += stuffed + b"\x00"
        return bytes(out)

    def dropped_types(self) -> list[str]:
        with self._lock:
            return [f.type.name for f in self.dropped]
