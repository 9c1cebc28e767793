"""What the index accepts: frame records, their checks, and what a search returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import InputError

__all__ = ["FrameRecord", "SearchHit", "check_jpeg", "check_ts", "check_vector"]


@dataclass(frozen=True)
class SearchHit:
    """One match: the frame's id and wall time, and the cosine ``score`` (-1 to 1) of its embedding."""

    frame_id: int
    frame_ts: float
    score: float
    has_thumbnail: bool


@dataclass(frozen=True)
class FrameRecord:
    """One frame to add: its wall time, its embedding, and optionally a JPEG thumbnail."""

    frame_ts: float
    embedding: npt.ArrayLike
    thumbnail_jpeg: bytes | None = None


def check_vector(value: npt.ArrayLike, dim: int, what: str) -> npt.NDArray[np.float32]:
    """``value`` as a unit float32 vector of ``dim`` values; InputError for the wrong size, NaN or zero."""
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: expected {dim} numbers. Got: {type(value).__name__}") from exc
    if vector.ndim == 2 and vector.shape[0] == 1:
        vector = vector[0]
    if vector.shape != (dim,):
        raise InputError(f"{what}: expected {dim} values (shape ({dim},)). Got: shape {vector.shape}")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if not math.isfinite(norm):
        raise InputError(f"{what}: has NaN or infinite values")
    if norm == 0.0:
        raise InputError(f"{what}: is all zeros; a zero vector has no direction to compare")
    return vector / np.float32(norm)


def check_ts(frame_ts: float) -> float:
    """A frame time: a finite number of seconds since the epoch."""
    if isinstance(frame_ts, bool) or not isinstance(frame_ts, int | float) or not math.isfinite(frame_ts):
        raise InputError(f"frame_ts: expected a finite wall time in seconds. Got: {frame_ts!r}")
    return float(frame_ts)


def check_jpeg(data: bytes | None) -> bytes | None:
    """Whole JPEG bytes, or None; a PNG, a cut-off file or text is an InputError."""
    if data is None:
        return None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"thumbnail_jpeg: expected JPEG bytes or None. Got: {type(data).__name__}")
    data = bytes(data)
    # SOI at the start and EOI at the end: a cut-off or non-JPEG payload is refused before it is stored
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff" or not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise InputError(f"thumbnail_jpeg: expected a whole JPEG (FF D8 ... FF D9). Got: {len(data)} bytes "
                         f"starting {data[:4].hex(' ') or 'with nothing'}")
    return data
