"""Where a model-input pixel came from in the frame: regions of interest and the frame transform.

Every resize mode and convention is, geometrically, one affine map between *normalised* model-input
coordinates ``(u, v)`` (0..1 across the tensor) and normalised source-frame coordinates ``(x, y)``
(0..1 across the frame). :class:`FrameTransform` holds that map, so a decoder turns a box or a
landmark the model gives in its own input space into frame coordinates with one call,
``transform.to_source(points)``, whatever letterbox, crop or rotation the preprocessing did.

What "normalised" means at the pixel level follows the convention the model was trained with:

* ``opencv`` (``cv2.resize``, half-pixel centres): ``u = 0`` is the left edge of the first pixel
  and ``u = 1`` the right edge of the last one, on both sides of the map.
* ``mediapipe`` (one ``cv2.warpPerspective``): MediaPipe's own ``GetRotatedSubRectToRectTransformMatrix``,
  the matrix its decoders use to project detections and landmarks back, so our coordinates agree
  with the ones its pipeline reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge_sdk.errors import InputError

__all__ = ["FrameTransform", "RegionOfInterest"]


@dataclass(frozen=True)
class RegionOfInterest:
    """A (possibly rotated) rectangle of the frame, normalised to the frame: MediaPipe's ``NormalizedRect``.

    The second stage of a two-stage model (a detector finds a face or a hand, a landmark model
    reads it) crops this rectangle out of the frame and warps it upright into the model input.
    """

    x_center: float = field(metadata={"help": "centre x, 0..1 across the frame width"})
    y_center: float = field(metadata={"help": "centre y, 0..1 down the frame height"})
    width: float = field(metadata={"help": "width as a fraction of the frame width (may exceed 1)"})
    height: float = field(metadata={"help": "height as a fraction of the frame height (may exceed 1)"})
    rotation: float = field(default=0.0, metadata={
        "help": "radians, clockwise on screen (y points down), as MediaPipe's NormalizedRect.rotation"})

    def __post_init__(self) -> None:
        values = (self.x_center, self.y_center, self.width, self.height, self.rotation)
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"region of interest must be finite numbers. Got: {self}")
        if self.width <= 0 or self.height <= 0:
            raise InputError(
                f"region of interest width and height must be positive. Got: width={self.width}, height={self.height}")

    @classmethod
    def full_frame(cls) -> RegionOfInterest:
        """The whole frame, upright: what a single-stage model sees."""
        return cls(0.5, 0.5, 1.0, 1.0, 0.0)


@dataclass(frozen=True, eq=False)
class FrameTransform:
    """The affine map from normalised model-input coordinates to normalised source-frame coordinates.

    ``x = a*u + b*v + c`` and ``y = d*u + e*v + f`` with ``coefficients = (a, b, c, d, e, f)``.
    ``padding`` is the letterbox share of the input on each side (left, top, right, bottom), 0..1,
    as MediaPipe's ``LETTERBOX_PADDING`` stream: pixels there show no part of the frame.
    """

    coefficients: tuple[float, float, float, float, float, float]
    source_size: tuple[int, int]  # (width, height) of the frame, pixels
    input_size: tuple[int, int]  # (width, height) of the model input, pixels
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 homogeneous matrix input -> source (normalised), float64."""
        a, b, c, d, e, f = self.coefficients
        return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])

    def to_source(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) normalised model-input (x, y) -> (N, 2) normalised source-frame (x, y), float64.

        Undoes letterbox padding, scaling, crop and rotation. Points in the letterbox bars map outside 0..1.
        """
        return _apply(self.matrix, points_xy)

    def to_input(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) normalised source-frame (x, y) -> (N, 2) normalised model-input (x, y): the inverse of :meth:`to_source`."""
        return _apply(np.linalg.inv(self.matrix), points_xy)

    def to_source_pixels(self, points_xy: np.ndarray) -> np.ndarray:
        """As :meth:`to_source`, in frame pixels (x times the frame width, y times its height)."""
        return self.to_source(points_xy) * np.asarray(self.source_size, dtype=np.float64)

    def __repr__(self) -> str:
        coefficients = ", ".join(f"{c:.6g}" for c in self.coefficients)
        return (f"FrameTransform(coefficients=({coefficients}), source_size={self.source_size}, "
                f"input_size={self.input_size}, padding={tuple(round(p, 6) for p in self.padding)})")


def _apply(matrix: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    points = np.asarray(points_xy, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise InputError(f"points must be an (N, 2) array of (x, y). Got: shape={points.shape}")
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def axis_aligned(scale_x: float, offset_x: float, scale_y: float, offset_y: float, source_size: tuple[int, int],
                 input_size: tuple[int, int], padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
                 ) -> FrameTransform:
    """``x = scale_x*u + offset_x``, ``y = scale_y*v + offset_y``: stretch, letterbox and centre crop."""
    return FrameTransform((scale_x, 0.0, offset_x, 0.0, scale_y, offset_y), source_size, input_size, padding)


@dataclass(frozen=True)
class PixelRect:
    """A rotated rectangle in frame pixels (MediaPipe's ``RotatedRect``): the part of the frame the input shows."""

    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float = 0.0

    @classmethod
    def of(cls, roi: RegionOfInterest | None, frame_width: int, frame_height: int) -> PixelRect:
        """MediaPipe's ``GetRoi``: the ROI in pixels, or the whole frame."""
        if roi is None:
            return cls(0.5 * frame_width, 0.5 * frame_height, float(frame_width), float(frame_height))
        return cls(roi.x_center * frame_width, roi.y_center * frame_height, roi.width * frame_width,
                   roi.height * frame_height, roi.rotation)

    def padded(self, input_width: int, input_height: int) -> tuple[PixelRect, tuple[float, float, float, float]]:
        """MediaPipe's ``PadRoi`` (keep aspect ratio): grow the rect to the input's aspect, unrounded.

        Returns the grown rect and the letterbox padding (left, top, right, bottom) as shares of the input.
        """
        tensor_aspect = input_height / input_width
        roi_aspect = self.height / self.width
        if tensor_aspect > roi_aspect:
            vertical = (1.0 - roi_aspect / tensor_aspect) / 2.0
            grown = PixelRect(self.center_x, self.center_y, self.width, self.width * tensor_aspect, self.rotation)
            return grown, (0.0, vertical, 0.0, vertical)
        horizontal = (1.0 - tensor_aspect / roi_aspect) / 2.0
        grown = PixelRect(self.center_x, self.center_y, self.height / tensor_aspect, self.height, self.rotation)
        return grown, (horizontal, 0.0, horizontal, 0.0)

    def cropped(self, input_width: int, input_height: int) -> PixelRect:
        """The centred part of the rect with the input's aspect, unrounded (the opposite of :meth:`padded`)."""
        tensor_aspect = input_height / input_width
        if tensor_aspect > self.height / self.width:
            return PixelRect(self.center_x, self.center_y, self.height / tensor_aspect, self.height, self.rotation)
        return PixelRect(self.center_x, self.center_y, self.width, self.width * tensor_aspect, self.rotation)

    def transform(self, frame_width: int, frame_height: int, input_size: tuple[int, int],
                  padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> FrameTransform:
        """MediaPipe's ``GetRotatedSubRectToRectTransformMatrix`` (no flip): input (0..1) -> frame (0..1)."""
        a, b = self.width, self.height
        c, d = math.cos(self.rotation), math.sin(self.rotation)
        g, h = 1.0 / frame_width, 1.0 / frame_height
        coefficients = (a * c * g, -b * d * g, (-0.5 * a * c + 0.5 * b * d + self.center_x) * g,
                        a * d * h, b * c * h, (-0.5 * b * c - 0.5 * a * d + self.center_y) * h)
        return FrameTransform(coefficients, (frame_width, frame_height), input_size, padding)
