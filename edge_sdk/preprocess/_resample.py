"""The geometric half of :func:`edge_sdk.preprocess.prepare_image`: frame -> model-size pixels, and the map back.

Two conventions, each reproducing the pipeline a model was trained with:

* ``opencv``: ``cv2.resize`` into a box rounded to whole pixels, then bars (letterbox) or a crop rounded
  to whole pixels first (centre crop). The SDK's own models and converter use it; it is the default.
* ``mediapipe``: MediaPipe's ``ImageToTensorCalculator`` on CPU: the region (the whole frame or a
  rotated rect) is grown (letterbox) to the input's aspect in float, and one ``cv2.warpPerspective``
  from its four corners onto the input's takes the pixels, bilinear, with the border filled.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk._lazy import require
from edge_sdk.errors import InputError
from edge_sdk.preprocess.geometry import FrameTransform, PixelRect, RegionOfInterest, axis_aligned

if TYPE_CHECKING:
    from edge_sdk.preprocess.image import ImageSpec

__all__: list[str] = []


def _cv2() -> Any:
    return require("cv2", "image decoding and resizing")


def resample(frame: np.ndarray, spec: ImageSpec, roi: RegionOfInterest | None) -> tuple[np.ndarray, FrameTransform]:
    """(H, W, 3) uint8 at the spec's size, and where its pixels came from."""
    height, width = frame.shape[:2]
    size = (spec.width, spec.height)
    if spec.convention == "mediapipe":
        if roi is None and (height, width) == (spec.height, spec.width):
            return frame, axis_aligned(1.0, 0.0, 1.0, 0.0, (width, height), size)
        return _warp(frame, spec, roi)
    if roi is not None:
        raise InputError("a region of interest needs the one-warp convention: convention='mediapipe'. "
                         f"Got: convention={spec.convention!r}")
    if (height, width) == (spec.height, spec.width):
        return frame, axis_aligned(1.0, 0.0, 1.0, 0.0, (width, height), size)
    cv2 = _cv2()
    if spec.resize == "center_crop":
        target_ratio = spec.width / spec.height
        if width / height > target_ratio:
            crop_w = max(1, round(height * target_ratio))
            x0 = (width - crop_w) // 2
            frame = frame[:, x0 : x0 + crop_w]
            transform = axis_aligned(crop_w / width, x0 / width, 1.0, 0.0, (width, height), size)
        else:
            crop_h = max(1, round(width / target_ratio))
            y0 = (height - crop_h) // 2
            frame = frame[y0 : y0 + crop_h]
            transform = axis_aligned(1.0, 0.0, crop_h / height, y0 / height, (width, height), size)
        return _scale(cv2, frame, spec.width, spec.height, spec.interpolation), transform
    if spec.resize == "letterbox":
        scale = min(spec.width / width, spec.height / height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        scaled = _scale(cv2, frame, new_w, new_h, spec.interpolation)
        y0, x0 = (spec.height - new_h) // 2, (spec.width - new_w) // 2
        if spec.border == "replicate":
            canvas = cv2.copyMakeBorder(scaled, y0, spec.height - new_h - y0, x0, spec.width - new_w - x0,
                                        cv2.BORDER_REPLICATE)
        else:
            canvas = np.full((spec.height, spec.width, 3), spec.letterbox_fill, dtype=np.uint8)
            canvas[y0 : y0 + new_h, x0 : x0 + new_w] = scaled
        padding = (x0 / spec.width, y0 / spec.height, (spec.width - new_w - x0) / spec.width,
                   (spec.height - new_h - y0) / spec.height)
        # input u covers input pixels u*W; the frame's pixels fill [x0, x0 + new_w) of them
        transform = axis_aligned(spec.width / new_w, -x0 / new_w, spec.height / new_h, -y0 / new_h,
                                 (width, height), size, padding)
        return canvas, transform
    return (_scale(cv2, frame, spec.width, spec.height, spec.interpolation),
            axis_aligned(1.0, 0.0, 1.0, 0.0, (width, height), size))


def _scale(cv2: Any, frame: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    if interpolation == "auto":
        # INTER_AREA averages when shrinking (no aliasing of small shapes); linear when enlarging.
        shrinking = width < frame.shape[1] or height < frame.shape[0]
        flag = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    else:
        flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}[interpolation]
    return cv2.resize(frame, (width, height), interpolation=flag)


def warp_rect(frame_width: int, frame_height: int, spec: ImageSpec,
              roi: RegionOfInterest | None) -> tuple[PixelRect, tuple[float, float, float, float]]:
    """The frame rect the warp maps onto the input's corners, and the letterbox padding: unrounded."""
    rect = PixelRect.of(roi, frame_width, frame_height)
    if spec.resize == "letterbox":
        return rect.padded(spec.width, spec.height)
    if spec.resize == "center_crop":
        return rect.cropped(spec.width, spec.height), (0.0, 0.0, 0.0, 0.0)
    return rect, (0.0, 0.0, 0.0, 0.0)


def _warp(frame: np.ndarray, spec: ImageSpec, roi: RegionOfInterest | None) -> tuple[np.ndarray, FrameTransform]:
    cv2 = _cv2()
    height, width = frame.shape[:2]
    rect, padding = warp_rect(width, height, spec, roi)
    # As image_to_tensor_converter_opencv.cc: the rect's box points (bottom-left, top-left, top-right,
    # bottom-right) onto the input's corners, in float32, then one warp.
    box = cv2.boxPoints(((rect.center_x, rect.center_y), (rect.width, rect.height), rect.rotation * 180.0 / math.pi))
    corners = np.array([[0, spec.height], [0, 0], [spec.width, 0], [spec.width, spec.height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(box, dtype=np.float32), corners)
    flag = cv2.INTER_NEAREST if spec.interpolation == "nearest" else cv2.INTER_LINEAR
    if spec.border == "replicate":
        border, value = cv2.BORDER_REPLICATE, 0
    else:
        border, value = cv2.BORDER_CONSTANT, spec.letterbox_fill
    pixels = cv2.warpPerspective(np.ascontiguousarray(frame), matrix, (spec.width, spec.height), flags=flag,
                                 borderMode=border, borderValue=(value, value, value))
    return pixels, rect.transform(width, height, (spec.width, spec.height), padding)
