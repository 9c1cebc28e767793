"""A noisy serial line on real ptys: bytes between a device's port and a new pty, with bit flips.

``NoisyLine(device_path, flip_rate=0.01)`` opens the device's pty, creates a pty pair for the
host (``path``) and copies bytes both ways on its own thread, flipping one random bit of a byte
with probability ``flip_rate``, independently in each direction. This is a UART with a bad cable:
bytes are damaged, never dropped or added, so the only defences are the CRC and the retries.

Development tool for the bench and the tests; nothing in the link uses it.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty
from dataclasses import dataclass

__all__ = ["NoiseCounts", "NoisyLine"]


@dataclass(frozen=True)
class NoiseCounts:
    """Bytes carried and bits flipped, per direction."""

    to_host_bytes: int
    to_host_flips: int
    to_device_bytes: int
    to_device_flips: int


class NoisyLine:
    """Forward bytes between ``device_path`` and :attr:`path`, flipping bits. ``close()`` is idempotent."""

    def __init__(self, device_path: str, flip_rate: float = 0.01, *, seed: int = 1) -> None:
        if not 0.0 <= flip_rate <= 1.0:
            raise ValueError(f"flip_rate must be within [0, 1]. Got: {flip_rate}")
        self.flip_rate = flip_rate
        self._rng = random.Random(seed)
        self._device_fd = os.open(device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._device_fd)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # the slave stays open here, so the master never sees a hangup
        self.path = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        self._counts = [0, 0, 0, 0]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="noisy-line", daemon=True)
        self._thread.start()

    def counts(self) -> NoiseCounts:
        with self._lock:
            return NoiseCounts(*self._counts)

    def _damage(self, data: bytes, index: int) -> bytes:
        out = bytearray(data)
        flips = 0
        for i in range(len(out)):
            if self._rng.random() < self.flip_rate:
                out[i] ^= 1 << self._rng.randrange(8)
                flips += 1
        with self._lock:
            self._counts[index] += len(out)
            self._counts[index + 1] += flips
        return bytes(out)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._device_fd, self._master], [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    return  # the device's pty is gone (simulator exited)
                if not data:
                    continue
                if fd == self._device_fd:
                    self._write_all(self._master, self._damage(data, 0))
                else:
                    self._write_all(self._device_fd, self._damage(data, 2))

    def _write_all(self, fd: int, data: bytes) -> None:
        waits = 0
        while data and not self._stop.is_set():
            try:
                n = os.write(fd, data)
            except BlockingIOError:
                waits += 1
                if waits > 10:
                    return  # nobody drains this side: drop, as a UART's full buffer does
                select.select([], [fd], [], 0.01)
                continue
            except OSError:
                return  # nobody reads the other end: the bytes are lost, as on a real line
            data = data[n:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(2.0)
        for fd in (self._device_fd, self._master, self._slave):
            os.close(fd)

    def __enter__(self) -> NoisyLine:  # noqa: PYI034 (not meant for subclassing)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
