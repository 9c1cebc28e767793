"""Streaming frame decoder: bytes in any chunking → frames out, corrupt frames dropped and counted.

The decoder never raises on bad input. Anything that is not a valid frame is discarded up to the
next 0x00 delimiter (a *resync*) and counted by the check it failed, so a burst of noise on the
line costs at most the frames it touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol.codec import MAX_WIRE_BYTES
from firmware_bridge.protocol.messages import Frame, decode_frame

__all__ = ["DecoderCounters", "FrameDecoder"]


@dataclass(frozen=True)
class DecoderCounters:
    """What the decoder has seen so far."""

    frames_ok: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    malformed: int = (
        0  # too short, wrong version, unknown type, payload not matching its layout
    )
    oversize: int = 0
    resyncs: int = 0  # discarded segments of any kind
    bytes_in: int = 0


class FrameDecoder:
    """Feed raw serial bytes, get decoded :class:`Frame` objects. Not thread-safe: one reader owns it."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._dropping = False  # inside an oversize run: skip until the next delimiter
        self._counts = {k: 0 for k in DecoderCounters.__dataclass_fields__}

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data`` and return every complete, valid frame in it, in order."""
        counts = self._counts
        counts["bytes_in"] += len(data)
        frames: list[Frame] = []
        *complete, rest = data.split(b"\x00")
        for segment in complete:
            if self._dropping:
                self._dropping = False
                self._buffer.clear()
                continue
            if self._buffer:
                segment = bytes(self._buffer) + segment
                self._buffer.clear()
            if not segment:
                continue  # idle delimiters are allowed between frames
            try:
                frames.append(decode_frame(segment))
            except ProtocolError as exc:
                self._count_error(exc.kind)
            else:
                counts["frames_ok"] += 1
        if not self._dropping:
            self._buffer += rest
            if len(self._buffer) > MAX_WIRE_BYTES:
                # No delimiter where one must have been: drop what we have and wait for the next one.
                self._buffer.clear()
                self._dropping = True
                counts["oversize"] += 1
                counts["resyncs"] += 1
        return frames

    def _count_error(self, kind: str) -> None:
        key = {"crc": "crc_errors", "cobs": "cobs_errors", "oversize": "oversize"}.get(
            kind, "malformed"
        )
        self._counts[key] += 1
        self._counts["resyncs"] += 1

    def counters(self) -> DecoderCounters:
        """A snapshot of the counters."""
        return DecoderCounters(**self._counts)

    def reset(self) -> None:
        """Forget any partial frame (after a reconnect); counters are kept."""
        self._buffer.clear()
        self._dropping = False
