"""What crosses the socket between the runtime process and its capture process, one datagram a message.

The socket pair is ``SOCK_SEQPACKET``: each ``recv`` returns one whole message, so a frame costs the
runtime process one ``recv`` and one ``send`` (both release the interpreter lock while in the
kernel) and a ``struct`` unpack, not ``multiprocessing.Connection``'s poll, length prefix and
pickle, whose Python frames held the lock the inference worker waits for. The hot messages are
fixed structs: ``F`` (a frame in a slot, with its metadata and the source's counters) and ``f``
(a slot given back). Everything else (``ready``, ``need_ring``, ``ring``, ``attached``, ``pass``,
``end``, ``error``, ``stop``, the configuration) is a pickled tuple behind ``P``, a few times a run.
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
    "control",
    "frame",
    "free",
    "parse_control",
    "parse_frame",
    "parse_free",
    "socketpair",
]

MAX_MESSAGE_BYTES = 1 << 16  # a control message (an error's text) is the largest
FRAME, FREE, CONTROL = b"F", b"f", b"P"
Counters = tuple[str, int, int, int, int]  # source state, read failures, reconnects, frames skipped, loops
FrameMeta = tuple[int, tuple[int, ...], int, float, float | None, float, ColorOrder, Counters]

_STATES = [state.value for state in SourceState]
_COLORS: tuple[ColorOrder, ...] = ("BGR", "RGB")
# kind, slot, height, width, channels (0: a 2-D frame), index, timestamp_s, media_t_s (NaN: none), read_ms,
# color order, source state, read failures, reconnects, frames skipped, loops
_FRAME = struct.Struct("<cHIIIqdddBBIIqI")
_FREE = struct.Struct("<cH")


def socketpair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def frame(slot: int, value: Frame, counters: Counters) -> bytes:
    shape = value.pixels.shape
    if value.pixels.dtype != np.uint8 or len(shape) not in (2, 3):
        raise TypeError(f"{value.source}: expected uint8 HxW or HxWxC pixels. Got: {value.pixels.dtype} {shape}")
    media_t_s = math.nan if value.media_t_s is None else value.media_t_s
    state, failures, reconnects, skipped, loops = counters
    return _FRAME.pack(FRAME, slot, shape[0], shape[1], shape[2] if len(shape) == 3 else 0, value.index,
                       value.timestamp_s, media_t_s, value.read_ms, _COLORS.index(value.color_order),
                       _STATES.index(state), failures, reconnects, skipped, loops)


def parse_frame(message: bytes) -> FrameMeta:
    """``(slot, shape, index, timestamp_s, media_t_s, read_ms, color_order, counters)``."""
    (_, slot, height, width, channels, index, timestamp_s, media_t_s, read_ms, color, state, failures, reconnects,
     skipped, loops) = _FRAME.unpack(message)
    shape = (height, width, channels) if channels else (height, width)
    return (slot, shape, index, timestamp_s, None if math.isnan(media_t_s) else media_t_s, read_ms, _COLORS[color],
            (_STATES[state], failures, reconnects, skipped, loops))


def free(slot: int) -> bytes:
    return _FREE.pack(FREE, slot)


def parse_free(message: bytes) -> int:
    return int(_FREE.unpack(message)[1])


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
