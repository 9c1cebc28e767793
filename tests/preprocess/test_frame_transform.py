"""FrameTransform: model-input coordinates back to the frame, checked against where pixels really land."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.errors import InputError
from edge_sdk.preprocess import FrameTransform, ImageSpec, RegionOfInterest, prepare_image_with_transform

POINTS = np.array([[0.0, 0.0], [1.0, 1.0], [0.25, 0.8], [0.5, 0.5], [-0.3, 1.7]])

SPECS = [
    ImageSpec(width=128, height=128, resize="stretch"),
    ImageSpec(width=128, height=128, resize="letterbox"),
    ImageSpec(width=96, height=128, resize="letterbox"),
    ImageSpec(width=128, height=128, resize="center_crop"),
    ImageSpec(width=64, height=128, resize="center_crop"),
    ImageSpec.mediapipe(128, 128, resize="stretch"),
    ImageSpec.mediapipe(128, 128),
    ImageSpec.mediapipe(128, 96),
    ImageSpec.mediapipe(128, 128, resize="center_crop"),
]
ROIS = [RegionOfInterest(0.5, 0.4, 0.3, 0.5, 0.0), RegionOfInterest(0.3, 0.6, 0.25, 0.4, math.radians(35)),
        RegionOfInterest(0.8, 0.2, 0.6, 0.2, -2.5)]


def _blob(height: int, width: int, x: float, y: float, sigma: float = 6.0) -> np.ndarray:
    """A bright Gaussian spot centred on pixel coordinates (x, y) (pixel centres at integers)."""
    yy, xx = np.mgrid[0:height, 0:width]
    spot = 250 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.repeat(spot.round().astype(np.uint8)[:, :, None], 3, axis=2)


def _centroid(pixels: np.ndarray) -> tuple[float, float]:
    weight = pixels[:, :, 0].astype(np.float64)
    weight = np.where(weight > 20, weight, 0.0)
    yy, xx = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    return float((xx * weight).sum() / weight.sum()), float((yy * weight).sum() / weight.sum())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.convention}-{s.resize}-{s.width}x{s.height}")
def test_to_input_undoes_to_source(spec: ImageSpec) -> None:
    for height, width in ((480, 640), (352, 480), (600, 300)):
        _, transform = prepare_image_with_transform(np.zeros((height, width, 3), np.uint8), spec)
        assert transform.to_input(transform.to_source(POINTS)) == pytest.approx(POINTS, abs=1e-12)
        assert transform.to_source(transform.to_input(POINTS)) == pytest.approx(POINTS, abs=1e-12)
        assert transform.to_source(POINTS).shape == (5, 2)


@pytest.mark.parametrize("roi", ROIS)
def test_rotated_roi_round_trips_and_lands_its_centre(roi: RegionOfInterest) -> None:
    spec = ImageSpec.mediapipe(224, 224, border="replicate")
    _, transform = prepare_image_with_transform(np.zeros((480, 640, 3), np.uint8), spec, roi=roi)
    assert transform.to_input(transform.to_source(POINTS)) == pytest.approx(POINTS, abs=1e-12)
    assert transform.to_source(np.array([[0.5, 0.5]]))[0] == pytest.approx([roi.x_center, roi.y_center])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.convention}-{s.resize}-{s.width}x{s.height}")
def test_to_source_finds_where_a_frame_spot_was(spec: ImageSpec) -> None:
    """A spot in the frame, found in the model input and mapped back, is where it was.

    Within 0.3 of a frame pixel; taking the other convention's pixel centres is off by 0.8 or more.
    """
    height, width = 352, 480
    for spot_x, spot_y in ((240.0, 176.0), (200.3, 120.7), (300.0, 250.0)):
        pixels, transform = prepare_image_with_transform(_blob(height, width, spot_x, spot_y), spec, "RGB")
        cx, cy = _centroid(pixels)
        # opencv (cv2.resize) puts pixel i's centre at (i + 0.5) / size; mediapipe's warp puts it at i / size
        half = 0.5 if spec.convention == "opencv" else 0.0
        found = transform.to_source(np.array([[(cx + half) / spec.width, (cy + half) / spec.height]]))[0]
        expected = ((spot_x + half) / width, (spot_y + half) / height)
        assert found * (width, height) == pytest.approx(np.multiply(expected, (width, height)), abs=0.3)


@pytest.mark.parametrize("roi", ROIS)
def test_to_source_finds_a_spot_through_a_rotated_roi(roi: RegionOfInterest) -> None:
    height, width = 480, 640
    spec = ImageSpec.mediapipe(224, 224, resize="stretch", border="constant")
    # a spot a quarter of the way into the ROI along its own rotated axes
    inside = np.array([[0.3, 0.6]])
    _, probe = prepare_image_with_transform(np.zeros((height, width, 3), np.uint8), spec, roi=roi)
    spot = probe.to_source(inside)[0] * (width, height)
    pixels, transform = prepare_image_with_transform(_blob(height, width, spot[0], spot[1], sigma=4.0), spec, roi=roi)
    cx, cy = _centroid(pixels)
    assert np.array([cx / 224, cy / 224]) == pytest.approx(inside[0], abs=1.0 / 224)
    assert transform.to_source_pixels(np.array([[cx / 224, cy / 224]]))[0] == pytest.approx(spot, abs=0.75)


def test_letterbox_maps_the_frame_corners_to_the_bars_edges() -> None:
    _, transform = prepare_image_with_transform(np.zeros((352, 480, 3), np.uint8), ImageSpec.mediapipe(128, 128))
    left, top, right, bottom = transform.padding
    corners = transform.to_input(np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert corners == pytest.approx(np.array([[left, top], [1 - right, 1 - bottom]]))
    assert transform.source_size == (480, 352) and transform.input_size == (128, 128)


def test_center_crop_maps_the_input_to_the_middle_of_the_frame() -> None:
    spec = ImageSpec(width=100, height=100, resize="center_crop")
    _, transform = prepare_image_with_transform(np.zeros((100, 300, 3), np.uint8), spec)
    assert transform.to_source(np.array([[0.0, 0.0], [1.0, 1.0]])) == pytest.approx(np.array([[1 / 3, 0], [2 / 3, 1]]))
    assert transform.padding == (0.0, 0.0, 0.0, 0.0)


def test_stretch_is_the_identity() -> None:
    for spec in (ImageSpec(width=50, height=20), ImageSpec.mediapipe(50, 20, resize="stretch")):
        _, transform = prepare_image_with_transform(np.zeros((77, 33, 3), np.uint8), spec)
        assert transform.to_source(POINTS) == pytest.approx(POINTS)


def test_points_must_be_n_by_2() -> None:
    _, transform = prepare_image_with_transform(np.zeros((10, 10, 3), np.uint8), ImageSpec(width=10, height=10))
    assert isinstance(transform, FrameTransform)
    assert transform.to_source(np.zeros((0, 2))).shape == (0, 2)
    with pytest.raises(InputError, match=r"points must be an \(N, 2\) array of \(x, y\). Got: shape=\(4,\)"):
        transform.to_source(np.zeros(4))


def test_an_roi_needs_the_mediapipe_convention() -> None:
    with pytest.raises(InputError, match=r"convention='mediapipe'. Got: convention='opencv'"):
        prepare_image_with_transform(np.zeros((10, 10, 3), np.uint8), ImageSpec(width=4, height=4),
                                     roi=RegionOfInterest(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(InputError, match=r"roi must be a RegionOfInterest or None. Got: tuple"):
        prepare_image_with_transform(np.zeros((10, 10, 3), np.uint8), ImageSpec.mediapipe(4, 4),
                                     roi=(0.5, 0.5, 0.5, 0.5))  # type: ignore[arg-type]


def test_roi_values_are_checked() -> None:
    with pytest.raises(InputError, match=r"width and height must be positive. Got: width=0.0, height=0.5"):
        RegionOfInterest(0.5, 0.5, 0.0, 0.5)
    with pytest.raises(InputError, match=r"finite"):
        RegionOfInterest(math.nan, 0.5, 0.5, 0.5)
    assert RegionOfInterest.full_frame() == RegionOfInterest(0.5, 0.5, 1.0, 1.0)


def test_the_full_frame_roi_is_no_roi() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    spec = ImageSpec.mediapipe(32, 32)
    plain, t1 = prepare_image_with_transform(frame, spec)
    full, t2 = prepare_image_with_transform(frame, spec, roi=RegionOfInterest.full_frame())
    assert np.array_equal(plain, full) and np.allclose(t1.matrix, t2.matrix)
