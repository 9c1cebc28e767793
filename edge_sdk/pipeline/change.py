"""How much a picture changed: the ``on_change`` test of the index and of the describe gate.

Frames are compared as 32x32 grey copies in [0, 1] (shrunk first, so the comparison is cheap on the
worker), by mean absolute difference: 0 is the same picture, 1 black against white.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_sdk._lazy import require

__all__ = ["picture_change", "small_grey"]

SIDE_PX = 32


def small_grey(pixels: npt.NDArray[np.uint8], purpose: str) -> npt.NDArray[np.float32]:
    """A ``SIDE_PX`` square grey copy of ``pixels`` in [0, 1]; ``purpose`` names the feature needing OpenCV."""
    cv2 = require("cv2", purpose)
    small = cv2.resize(pixels, (SIDE_PX, SIDE_PX), interpolation=cv2.INTER_AREA)
    grey = small.mean(axis=2, dtype=np.float32) if small.ndim == 3 else small.astype(np.float32)
    return grey / np.float32(255.0)


def picture_change(small: npt.NDArray[np.float32], last: npt.NDArray[np.float32]) -> float:
    """Mean absolute change between two :func:`small_grey` copies, 0 to 1."""
    return float(np.mean(np.abs(small - last)))
