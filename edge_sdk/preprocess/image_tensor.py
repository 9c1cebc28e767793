"""One model's image input, frame to tensor: the preprocessing and the input's quantization, nothing of
the interpreter.

:class:`ImageTensorMaker` is what :class:`~edge_sdk.model.FusionModel` makes its image input with, and
what the capture process (``camera.capture: process``) is handed to make the same tensor where the
frame is decoded: one code path, so a tensor made ahead is the very bytes the worker would make. It
pickles as a spec and four numbers; the per-value table is rebuilt where it is used.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from edge_sdk.preprocess.geometry import FrameTransform
from edge_sdk.preprocess.image import (
    PIXEL_RAMP,
    ColorOrder,
    ImageSpec,
    normalize_image,
    prepare_image_with_transform,
)

__all__ = ["ImageTensorMaker", "quantize"]

_LUT_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.float32))


class ImageTensorMaker:
    """``make(frame)``: the (1, H, W, 3) input tensor of ``dtype`` (quantized with ``scale`` and
    ``zero_point`` when it is an integer tensor with a scale), and the transform back to the frame."""

    def __init__(self, spec: ImageSpec, dtype: np.dtype[Any] | str, scale: float, zero_point: int) -> None:
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.scale, self.zero_point = float(scale), int(zero_point)
        self._table: np.ndarray | bool | None = None  # built at the first frame (see _build_table)

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"

    @property
    def nbytes(self) -> int:
        return self.spec.width * self.spec.height * 3 * self.dtype.itemsize

    def make(self, image: np.ndarray, color_order: ColorOrder) -> tuple[np.ndarray, FrameTransform]:
        spec = self.spec
        pixels, to_source = prepare_image_with_transform(image, spec, color_order)
        # Fast paths: camera bytes go in untouched when the model takes them at scale 1.
        if spec.is_identity_normalization and self.scale == 1.0:
            if self.dtype == np.uint8 and self.zero_point == 0:
                return pixels[None], to_source
            if self.dtype == np.int8 and self.zero_point == -128:
                return (pixels ^ np.uint8(0x80)).view(np.int8)[None], to_source
        table = self._table
        if table is None:  # two threads may both build it: the same table, once each
            table = self._table = self._build_table()
        if isinstance(table, np.ndarray) and pixels.flags.c_contiguous and pixels.ndim == 3 and pixels.shape[2] == 3:
            return sys.modules["cv2"].LUT(pixels, table)[None], to_source
        return self.quantize(normalize_image(pixels, spec)), to_source

    def quantize(self, value: np.ndarray) -> np.ndarray:
        return quantize(value, self.dtype, self.scale, self.zero_point)

    def _build_table(self) -> np.ndarray | bool:
        """Normalisation and quantization of each uint8 value per channel, as one (1, 256, 3) table:
        the very arithmetic of the slow path run on all 256 values, so one ``cv2.LUT`` gives the same
        tensor bytes (an int8 model's input costs one table lookup per pixel instead of four numpy
        passes). False where ``cv2.LUT`` cannot produce the tensor's dtype."""
        if sys.modules.get("cv2") is None or self.dtype not in _LUT_DTYPES:
            return False
        table = self.quantize(normalize_image(PIXEL_RAMP, self.spec))[0]
        return np.ascontiguousarray(table) if table.shape == PIXEL_RAMP.shape else False

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "dtype": self.dtype.str, "scale": self.scale, "zero_point": self.zero_point}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["dtype"], state["scale"], state["zero_point"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return (f"ImageTensorMaker({self.spec.width}x{self.spec.height} {self.spec.color_order}, {self.dtype.name}, "
                f"scale={self.scale:g}, zero_point={self.zero_point})")


def quantize(value: np.ndarray, dtype: np.dtype[Any], scale: float, zero_point: int) -> np.ndarray:
    """``value`` as a tensor of ``dtype`` with a batch dimension: rounded and clipped with the tensor's
    scale and zero point when it is an integer tensor with a scale, else cast."""
    if scale != 0.0 and dtype.kind in "iu" and value.dtype.kind == "f":
        low, high = _integer_range(dtype)
        q = np.round(value / scale) + zero_point
        return np.clip(q, low, high).astype(dtype)[None]
    if value.dtype != dtype:
        value = value.astype(dtype)
    return value[None]


@functools.cache
def _integer_range(dtype: np.dtype[Any]) -> tuple[int, int]:
    info = np.iinfo(dtype)  # costs microseconds per call: the per-frame path asks for it every frame
    return int(info.min), int(info.max)

