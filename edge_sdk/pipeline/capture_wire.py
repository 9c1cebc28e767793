"""What crosses the socket between the runtime process and its capture process, one datagram a message.

The socket pair is ``SOCK_SEQPACKET``: each ``recv`` returns one whole message, so a batch of frames
costs the runtime process one ``recv`` and one ``send`` (both release the interpreter lock while in
the kernel) and ``struct`` unpacks, not ``multiprocessing.Connection``'s poll, length prefix and
pickle, whose Python frames held the lock the inference worker waits for. The hot messages are
fixed structs: ``B`` (frames in slots, each with its metadata and whether its image input was made
in the slot too, then the source's counters) and ``f`` (slots given back). Everything else
(``ready``, ``need_ring``, ``ring``, ``attached``, ``prepare``, ``transform``, ``pass``, ``end``,
``error``, ``stop``, the configuration) is a pickled tuple behind ``P``, a few times a run.
"""

from __future__ import annotations

import math
import pickle
import socket
import struct
from typing import Any

import numpy as np

from edge_sdk.sources.base import SourceState
from edge_sdk.sources.frame import ColorOrder, Frame

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Counters",
    "FrameMeta",
    "batch",
    "control",
    "frame_record",
    "free",
    "parse_batch",
    "parse_control",
    "parse_free",
    "socketpair",
]

MAX_MESSAGE_BYTES = 1 << 16  # a control message (an error's text) is the largest
MAX_BATCH = 64  # frames in one B message (a ring never has more slots than that)
BATCH, FREE, CONTROL = b"B", b"f", b"P"
Counters = tuple[str, int, int, int, int]  # source state, read failures, reconnects, frames skipped, loops
# slot, shape, index, timestamp_s, media_t_s, read_ms, color order, prepared by (0: not), its ms
FrameMeta = tuple[int, tuple[int, ...], int, float, float | None, float, ColorOrder, int, float]

_STATES = [state.value for state in SourceState]
_COLORS: tuple[ColorOrder, ...] = ("BGR", "RGB")
# kind, frames, then the source's counters after the last: state, read failures, reconnects, frames skipped, loops
_HEAD = struct.Struct("<cHBIIqI")
# slot, height, width, channels (0: a 2-D frame), index, timestamp_s, media_t_s (NaN: none), read_ms,
# color order, the generation of the image-tensor maker that made its input in the slot (0: none), its ms
_FRAME = struct.Struct("<HIIIqdddBId")
_FREE = struct.Struct("<cH")


def socketpair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def frame_record(slot: int, value: Frame, prepared_by: int, prepare_ms: float) -> bytes:
    """One frame of a batch: packed when the frame is written, so that the frame itself need not wait for the batch."""
    shape = value.pixels.shape
    if value.pixels.dtype != np.uint8 or len(shape) not in (2, 3):
        raise TypeError(f"{value.source}: expected uint8 HxW or HxWxC pixels. Got: {value.pixels.dtype} {shape}")
    media_t_s = math.nan if value.media_t_s is None else value.media_t_s
    return _FRAME.pack(slot, shape[0], shape[1], shape[2] if len(shape) == 3 else 0, value.index, value.timestamp_s,
                       media_t_s, value.read_ms, _COLORS.index(value.color_order), prepared_by, prepare_ms)


def batch(records: list[bytes], counters: Counters) -> bytes:
    """``records`` from :func:`frame_record`, in order, then the source's counters."""
    if not 0 < len(records) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} frames. Got: {len(records)}")
    state, failures, reconnects, skipped, loops = counters
    return _HEAD.pack(BATCH, len(records), _STATES.index(state), failures, reconnects, skipped, loops) + b"".join(records)


def parse_batch(message: bytes) -> tuple[list[FrameMeta], Counters]:
    _, count, state, failures, reconnects, skipped, loops = _HEAD.unpack_from(message)
    frames: list[FrameMeta] = []
    for offset in range(_HEAD.size, _HEAD.size + count * _FRAME.size, _FRAME.size):
        (slot, height, width, channels, index, timestamp_s, media_t_s, read_ms, color, prepared_by,
         prepare_ms) = _FRAME.unpack_from(message, offset)
        shape = (height, width, channels) if channels else (height, width)
        frames.append((slot, shape, index, timestamp_s, None if math.isnan(media_t_s) else media_t_s, read_ms,
                       _COLORS[color], prepared_by, prepare_ms))
    return frames, (_STATES[state], failures, reconnects, skipped, loops)


def free(slots: list[int]) -> bytes:
    return _FREE.pack(FREE, len(slots)) + struct.pack(f"<{len(slots)}H", *slots)


def parse_free(message: bytes) -> list[int]:
    count = _FREE.unpack_from(message)[1]
    return list(struct.unpack_from(f"<{count}H", message, _FREE.size))


def control(*fields: Any) -> bytes:
    data = CONTROL + pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_MESSAGE_BYTES:  # an error's text, cut so that the message still fits
        text = [f[:2000] if isinstance(f, str) else f for f in fields]
        data = CONTROL + pickle.dumps(tuple(text), protocol=pickle.HIGHEST_PROTOCOL)
    return data


def parse_control(message: bytes) -> tuple[Any, ...]:
    value = pickle.loads(message[1:])  # from our own child (or parent), over a private socket pair
    if not isinstance(value, tuple) or not value:
        raise ValueError(f"expected a control tuple. Got: {value!r}")
    return value
