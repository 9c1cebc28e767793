"""A bundle in chunks over MQTT, for devices with no route to an HTTP server.

The device reports ``downloading`` with the ``offset`` it needs (0, or the size of the ``.part``
file a previous attempt left: the transfer resumes); the host then publishes chunks on
``<device>/cmd/model_chunk`` from that offset::

    {"sha256": "<the bundle's>", "offset": 65536, "data": "<base64>", "chunk_sha256": "<hex of the chunk>"}

Each chunk is checked against its own hash before it is written, and only the chunk that continues
the file is taken (a duplicate is ignored, a gap is counted); the whole file is then checked against
the signed SHA-256 as for any download. Chunks fit the command size limit: 32 KiB of data each.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge_sdk.update.errors import DownloadError

__all__ = ["CHUNK_BYTES", "ChunkReceiver", "chunk_messages"]

CHUNK_BYTES = 32 * 1024
_log = logging.getLogger(__name__)


class ChunkReceiver:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._target: tuple[Path, int, str] | None = None
        self._have = 0
        self.counts = {"taken": 0, "duplicate": 0, "gap": 0, "bad_hash": 0, "unexpected": 0}

    def on_chunk(self, payload: Any) -> None:
        """On the command thread: one ``cmd/model_chunk`` message."""
        with self._cond:
            target = self._target
            if target is None or not isinstance(payload, dict) or payload.get("sha256") != target[2]:
                self.counts["unexpected"] += 1
                return
            part, size, _ = target
            try:
                offset = int(payload["offset"])
                data = base64.b64decode(payload["data"], validate=True)
            except (KeyError, TypeError, ValueError, binascii.Error):
                self.counts["bad_hash"] += 1
                return
            if hashlib.sha256(data).hexdigest() != payload.get("chunk_sha256"):
                self.counts["bad_hash"] += 1
                _log.warning("model chunk at offset %d fails its hash: dropped", offset)
                return
            if offset < self._have:
                self.counts["duplicate"] += 1
                return
            if offset > self._have or offset + len(data) > size:
                self.counts["gap"] += 1
                return
            with open(part, "ab") as out:
                out.write(data)
            self._have += len(data)
            self.counts["taken"] += 1
            self._cond.notify_all()

    def receive(self, part: Path, size: int, sha256: str, gap_timeout_s: float,
                on_need: Callable[[int], object] | None = None, stop: threading.Event | None = None) -> None:
        """Block until ``part`` holds ``size`` bytes, or no chunk came for ``gap_timeout_s`` (the part stays)."""
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        with self._cond:
            self._target, self._have = (part, size, sha256), have
        if on_need is not None:
            on_need(have)
        try:
            with self._cond:
                last_have, last_progress = self._have, time.monotonic()
                while self._have < size:
                    self._cond.wait(0.25)
                    if stop is not None and stop.is_set():
                        raise DownloadError(f"shutting down at {self._have} of {size} bytes; the part is kept")
                    if self._have != last_have:
                        last_have, last_progress = self._have, time.monotonic()
                    elif time.monotonic() - last_progress > gap_timeout_s:
                        raise DownloadError(f"model chunks stopped at {self._have} of {size} bytes (none for "
                                            f"{gap_timeout_s:.0f} s); announce again to resume from there")
        finally:
            with self._cond:
                self._target = None


def chunk_messages(path: str | Path, start_offset: int = 0, chunk_bytes: int = CHUNK_BYTES) -> Iterator[dict[str, Any]]:
    """The host side: the ``cmd/model_chunk`` payloads of a bundle from ``start_offset`` on."""
    data = Path(path).read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    for offset in range(start_offset, len(data), chunk_bytes):
        chunk = data[offset:offset + chunk_bytes]
        yield {"sha256": sha256, "offset": offset, "data": base64.b64encode(chunk).decode(),
               "chunk_sha256": hashlib.sha256(chunk).hexdigest()}
