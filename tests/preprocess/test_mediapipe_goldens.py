"""Against MediaPipe's own expected outputs for ImageToTensorCalculator (opt-in: the images are not vendored).

Point ``EDGE_SDK_MEDIAPIPE_TESTDATA`` at a copy of ``mediapipe/calculators/tensor/testdata/image_to_tensor``
(``input.jpg`` and the expected PNGs). The cases are those of ``image_to_tensor_calculator_test.cc``;
MediaPipe's own test accepts a difference of up to 5 levels per value. Measured here (OpenCV 5.0):
mean 0.05 to 0.3 levels, at most 11 of 196,608 values beyond 5 (up to 7, on edges of white on red).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.preprocess import ImageSpec, RegionOfInterest, prepare_image_with_transform, read_image

TESTDATA = os.environ.get("EDGE_SDK_MEDIAPIPE_TESTDATA", "")
pytestmark = pytest.mark.skipif(not (TESTDATA and (Path(TESTDATA) / "input.jpg").exists()),
                                reason="set EDGE_SDK_MEDIAPIPE_TESTDATA to MediaPipe's image_to_tensor testdata")

MEDIUM, LARGE = (0.65, 0.4, 0.5, 0.5), (0.5, 0.5, 1.5, 1.1)
CASES = [  # expected file, border, (width, height), keep aspect ratio, rect, rotation in degrees
    ("medium_sub_rect_keep_aspect", "replicate", (256, 256), True, MEDIUM, 0.0),
    ("medium_sub_rect_keep_aspect_border_zero", "constant", (256, 256), True, MEDIUM, 0.0),
    ("medium_sub_rect_keep_aspect_with_rotation", "replicate", (256, 256), True, MEDIUM, 90.0),
    ("medium_sub_rect_keep_aspect_with_rotation_border_zero", "constant", (256, 256), True, MEDIUM, 90.0),
    ("medium_sub_rect_with_rotation", "replicate", (256, 256), False, MEDIUM, -45.0),
    ("medium_sub_rect_with_rotation_border_zero", "constant", (256, 256), False, MEDIUM, -45.0),
    ("large_sub_rect", "replicate", (128, 128), False, LARGE, 0.0),
    ("large_sub_rect_border_zero", "constant", (128, 128), False, LARGE, 0.0),
    ("large_sub_rect_keep_aspect", "replicate", (128, 128), True, LARGE, 0.0),
    ("large_sub_rect_keep_aspect_border_zero", "constant", (128, 128), True, LARGE, 0.0),
    ("large_sub_rect_keep_aspect_with_rotation", "replicate", (128, 128), True, LARGE, -15.0),
    ("large_sub_rect_keep_aspect_with_rotation_border_zero", "constant", (128, 128), True, LARGE, -15.0),
    ("noop_except_range", "replicate", (64, 128), True, (0.5, 0.5, 1.0, 1.0), 0.0),
]


@pytest.mark.parametrize(("expected", "border", "size", "keep_aspect", "rect", "degrees"), CASES,
                         ids=[case[0] for case in CASES])
def test_matches_mediapipes_expected_tensor(expected: str, border: str, size: tuple[int, int], keep_aspect: bool,
                                            rect: tuple[float, float, float, float], degrees: float) -> None:
    spec = ImageSpec.mediapipe(*size, resize="letterbox" if keep_aspect else "stretch", border=border)  # type: ignore[arg-type]
    roi = RegionOfInterest(*rect, rotation=math.pi * degrees / 180.0)
    pixels, _ = prepare_image_with_transform(read_image(Path(TESTDATA) / "input.jpg"), spec, "BGR", roi=roi)
    want = read_image(Path(TESTDATA) / f"{expected}.png")[:, :, ::-1]  # RGB, as the tensor
    difference = np.abs(pixels.astype(int) - want.astype(int))
    assert difference.mean() < 0.5, difference.mean()
    assert (difference > 5).mean() < 1e-4, int((difference > 5).sum())
