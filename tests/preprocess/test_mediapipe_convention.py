"""The mediapipe convention: the exact, unrounded box, one bilinear warp, as ImageToTensorCalculator on CPU.

The reference is written here from the geometry alone (no OpenCV): a tensor pixel (i, j) is the
input point (u, v) = (i / W, j / H); MediaPipe's sub-rect matrix takes it to the frame; the frame is
sampled bilinearly there, with the border filled. OpenCV's warp quantises sample positions to 1/32
pixel and rounds to uint8, so a smooth frame agrees within one pixel level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.preprocess import (
    ImageSpec,
    RegionOfInterest,
    normalize_image,
    prepare_image,
    prepare_image_with_transform,
)


def _reference_warp(frame: np.ndarray, spec: ImageSpec, roi: RegionOfInterest | None = None) -> np.ndarray:
    """Float (H, W, 3): MediaPipe's GetRoi, PadRoi and sub-rect matrix, then bilinear sampling, in numpy."""
    fh, fw = frame.shape[:2]
    if roi is None:
        cx, cy, rw, rh, rotation = fw / 2, fh / 2, float(fw), float(fh), 0.0
    else:
        cx, cy, rw, rh, rotation = roi.x_center * fw, roi.y_center * fh, roi.width * fw, roi.height * fh, roi.rotation
    tensor_aspect, roi_aspect = spec.height / spec.width, rh / rw
    if spec.resize == "letterbox":
        rw, rh = (rw, rw * tensor_aspect) if tensor_aspect > roi_aspect else (rh / tensor_aspect, rh)
    elif spec.resize == "center_crop":
        rw, rh = (rh / tensor_aspect, rh) if tensor_aspect > roi_aspect else (rw, rw * tensor_aspect)
    u, v = np.meshgrid(np.arange(spec.width) / spec.width, np.arange(spec.height) / spec.height)
    lx, ly = (u - 0.5) * rw, (v - 0.5) * rh
    sx = cx + math.cos(rotation) * lx - math.sin(rotation) * ly
    sy = cy + math.sin(rotation) * lx + math.cos(rotation) * ly
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    ax, ay = (sx - x0)[..., None], (sy - y0)[..., None]
    source = frame.astype(np.float64)

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if spec.border == "replicate":
            return source[np.clip(y, 0, fh - 1), np.clip(x, 0, fw - 1)]
        inside = ((x >= 0) & (x < fw) & (y >= 0) & (y < fh))[..., None]
        return np.where(inside, source[np.clip(y, 0, fh - 1), np.clip(x, 0, fw - 1)], float(spec.letterbox_fill))

    return ((1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x0 + 1, y0))
            + ay * ((1 - ax) * at(x0, y0 + 1) + ax * at(x0 + 1, y0 + 1)))


def _smooth_frame(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [127 + 100 * np.sin(x / 23.0 + k) * np.cos(y / 31.0 - k) for k in range(3)]
    return np.clip(np.stack(channels, axis=2), 0, 255).round().astype(np.uint8)


def _normalised(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float64) - 127.5) / 127.5


CASES = [
    ((352, 480), (128, 128), "letterbox", "constant", None),
    ((480, 640), (128, 128), "letterbox", "constant", None),
    ((720, 1280), (256, 256), "letterbox", "constant", None),
    ((480, 640), (192, 128), "letterbox", "replicate", None),
    ((480, 640), (128, 128), "stretch", "constant", None),
    ((480, 640), (128, 128), "center_crop", "constant", None),
    ((96, 64), (256, 256), "letterbox", "constant", None),  # enlarging
    ((480, 640), (224, 224), "stretch", "replicate", RegionOfInterest(0.4, 0.55, 0.3, 0.4, math.radians(30))),
    ((480, 640), (224, 224), "letterbox", "constant", RegionOfInterest(0.9, 0.1, 0.5, 0.3, -1.1)),
]


@pytest.mark.parametrize(("frame_size", "input_size", "resize", "border", "roi"), CASES)
def test_the_warp_matches_an_independent_numpy_warp(frame_size: tuple[int, int], input_size: tuple[int, int],
                                                    resize: str, border: str, roi: RegionOfInterest | None) -> None:
    spec = ImageSpec.mediapipe(*input_size, resize=resize, border=border)  # type: ignore[arg-type]
    frame = _smooth_frame(*frame_size)
    pixels, _ = prepare_image_with_transform(frame, spec, "RGB", roi=roi)
    tensor = normalize_image(pixels, spec)
    reference = _reference_warp(frame, spec, roi)
    unrounded = np.abs(tensor - _normalised(reference))
    assert unrounded.max() <= 1.05 / 127.5, unrounded.max() * 127.5  # uint8 rounding and 1/32-pixel steps
    rounded = np.abs(tensor - _normalised(np.round(reference)))
    assert rounded.max() <= 1.001 / 127.5 and rounded.mean() < 1e-3, (rounded.max() * 127.5, rounded.mean())


def test_the_issue_example_gets_the_exact_unrounded_box() -> None:
    """480x352 into 128x128: the frame spans 93.87 rows from 17.07, not 94 from 17."""
    spec = ImageSpec.mediapipe(128, 128)
    frame = np.full((352, 480, 3), 200, dtype=np.uint8)
    pixels, transform = prepare_image_with_transform(frame, spec, "RGB")
    exact_height = 352 * 128 / 480
    assert exact_height == pytest.approx(93.8667, abs=1e-4)
    top = (128 - exact_height) / 2
    assert top == pytest.approx(17.0667, abs=1e-4)
    assert transform.padding == pytest.approx((0.0, top / 128, 0.0, top / 128))
    assert transform.to_input(np.array([[0.5, 0.0], [0.5, 1.0]])) == pytest.approx(
        np.array([[0.5, top / 128], [0.5, (top + exact_height) / 128]]))
    column = pixels[:, 64, 0].astype(int)
    # row 17 samples the frame 0.25 of a source pixel above its top edge: 3/4 frame, 1/4 fill
    assert column[16] == 0 and column[17] == 150 and column[18] == 200
    assert (column[18:111] == 200).all() and (column[111:] == 0).all()
    # the rounded (opencv) box differs: full rows from 17 on
    old = prepare_image(frame, ImageSpec(width=128, height=128, resize="letterbox"), "RGB")
    assert old[17, 64, 0] == 200


def test_the_two_conventions_give_different_tensors_on_a_real_looking_frame() -> None:
    """The reason for the convention: the rounded, area-averaged box is not what a MediaPipe model saw."""
    frame = np.random.default_rng(1).integers(0, 256, (352, 480, 3), dtype=np.uint8)
    mediapipe = ImageSpec.mediapipe(128, 128)
    opencv = ImageSpec(width=128, height=128, resize="letterbox", mean=(127.5,) * 3, std=(127.5,) * 3)
    difference = np.abs(normalize_image(prepare_image(frame, mediapipe), mediapipe)
                        - normalize_image(prepare_image(frame, opencv), opencv))
    assert difference.max() > 0.5


def test_nearest_interpolation_only_copies_frame_pixels() -> None:
    frame = np.random.default_rng(2).integers(1, 256, (50, 70, 3), dtype=np.uint8)
    spec = ImageSpec(width=33, height=33, resize="stretch", convention="mediapipe", interpolation="nearest")
    pixels = prepare_image(frame, spec, "RGB")
    assert set(np.unique(pixels)) <= set(np.unique(frame))
    linear = prepare_image(frame, ImageSpec(width=33, height=33, convention="mediapipe"), "RGB")
    assert not np.array_equal(pixels, linear)


def test_auto_interpolation_is_linear_in_the_mediapipe_convention() -> None:
    frame = _smooth_frame(120, 90)
    auto = ImageSpec(width=64, height=48, resize="letterbox", convention="mediapipe")
    linear = ImageSpec(width=64, height=48, resize="letterbox", convention="mediapipe", interpolation="linear")
    assert np.array_equal(prepare_image(frame, auto), prepare_image(frame, linear))


def test_a_frame_already_at_the_input_size_is_untouched() -> None:
    frame = np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    for resize in ("stretch", "letterbox", "center_crop"):
        spec = ImageSpec(width=128, height=96, resize=resize, convention="mediapipe")
        pixels, transform = prepare_image_with_transform(frame, spec, "BGR")
        assert np.array_equal(pixels, frame[:, :, ::-1])
        assert np.array_equal(transform.matrix, np.eye(3))


def test_the_fill_value_and_replicated_border() -> None:
    frame = np.full((40, 100, 3), 90, dtype=np.uint8)
    filled = prepare_image(frame, ImageSpec(width=64, height=64, resize="letterbox", convention="mediapipe",
                                            letterbox_fill=114), "RGB")
    assert filled[0, 32].tolist() == [114] * 3 and filled[32, 32].tolist() == [90] * 3
    replicated = prepare_image(frame, ImageSpec.mediapipe(64, 64, border="replicate"), "RGB")
    assert (replicated == 90).all()


def test_colour_order_swaps_after_the_warp() -> None:
    frame = _smooth_frame(60, 80)
    spec_rgb = ImageSpec.mediapipe(32, 32)
    spec_bgr = ImageSpec.mediapipe(32, 32, color_order="BGR")
    assert np.array_equal(prepare_image(frame, spec_rgb, "BGR"), prepare_image(frame, spec_bgr, "BGR")[:, :, ::-1])


def test_grey_and_rgba_frames() -> None:
    grey = _smooth_frame(60, 80)[:, :, 0]
    rgba = np.dstack([np.repeat(grey[:, :, None], 3, axis=2), np.full_like(grey, 7)])
    spec = ImageSpec.mediapipe(32, 32)
    assert np.array_equal(prepare_image(grey, spec), prepare_image(rgba, spec))
