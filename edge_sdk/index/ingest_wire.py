"""What crosses the socket between the runtime process and its index ingest process, one datagram a message.

The same ``SOCK_SEQPACKET`` pair and control messages as the capture process
(:mod:`edge_sdk.pipeline.capture_wire`: ``P`` and a pickled tuple, a few times a run). The hot
message is a fixed struct: ``I``, a frame in a slot of the runtime's
:class:`~edge_sdk.pipeline.frame_ring.FrameRing` (slot, shape, frame time, colour order, whether it
ends the hand-over), followed by the run's own embedding as raw float32 when the run's results are
the embeddings. The ingest process answers each batch with one ``done`` control message (the slots it
gives back, what it wrote, its CPU time and the index's counters).
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from edge_sdk.pipeline.capture_wire import MAX_MESSAGE_BYTES, control, parse_control, socketpair
from edge_sdk.sources.frame import ColorOrder

__all__ = ["FRAME", "MAX_MESSAGE_BYTES", "IngestFrame", "control", "frame", "parse_control", "parse_frame",
           "socketpair"]

FRAME = b"I"
IngestFrame = tuple[int, tuple[int, ...], float, ColorOrder, bool, "npt.NDArray[np.float32] | None"]

_COLORS: tuple[ColorOrder, ...] = ("BGR", "RGB")
# kind, slot, height, width, channels (0: a 2-D frame), frame_ts, color order, last of the hand-over, has a vector
_FRAME = struct.Struct("<cHIIIdBBB")


def frame(slot: int, shape: tuple[int, ...], frame_ts: float, color_order: ColorOrder, last: bool,
          vector: npt.NDArray[np.float32] | None) -> bytes:
    if len(shape) not in (2, 3):
        raise TypeError(f"index ingest: expected HxW or HxWxC pixels. Got: shape {shape}")
    head = _FRAME.pack(FRAME, slot, shape[0], shape[1], shape[2] if len(shape) == 3 else 0, frame_ts,
                       _COLORS.index(color_order), last, vector is not None)
    return head if vector is None else head + np.ascontiguousarray(vector, np.float32).tobytes()


def parse_frame(message: bytes) -> IngestFrame:
    """``(slot, shape, frame_ts, color_order, last, vector or None)``."""
    _, slot, height, width, channels, frame_ts, color, last, has_vector = _FRAME.unpack_from(message)
    vector = np.frombuffer(message, np.float32, offset=_FRAME.size).copy() if has_vector else None
    shape = (height, width, channels) if channels else (height, width)
    return slot, shape, frame_ts, _COLORS[color], bool(last), vector
