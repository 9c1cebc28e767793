"""The default (opencv) convention is the code path every existing bundle uses: byte for byte as before.

``_old_prepare_image`` is the implementation before the interpolation/convention fields, copied
verbatim as the reference.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_sdk.bundle.io import read_bundle
from edge_sdk.preprocess import ImageSpec, normalize_image, prepare_image, prepare_image_with_transform
from edge_sdk.runtime import default_bundle_path

# -- the reference: edge_sdk/preprocess/image.py before issue 10 -----------------------------------------


def _old_prepare_image(frame: np.ndarray, spec: ImageSpec, color_order: str = "BGR") -> np.ndarray:
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.shape[2] == 4:
        frame = frame[:, :, :3]
    if (frame.shape[0], frame.shape[1]) != (spec.height, spec.width):
        frame = _old_resize(frame, spec)
    if color_order != spec.color_order:
        return np.ascontiguousarray(frame[:, :, ::-1])
    return np.ascontiguousarray(frame)


def _old_resize(frame: np.ndarray, spec: ImageSpec) -> np.ndarray:
    height, width = frame.shape[:2]
    if spec.resize == "center_crop":
        target_ratio = spec.width / spec.height
        if width / height > target_ratio:
            crop_w = max(1, round(height * target_ratio))
            x0 = (width - crop_w) // 2
            frame = frame[:, x0 : x0 + crop_w]
        else:
            crop_h = max(1, round(width / target_ratio))
            y0 = (height - crop_h) // 2
            frame = frame[y0 : y0 + crop_h]
        return _old_scale(frame, spec.width, spec.height)
    if spec.resize == "letterbox":
        scale = min(spec.width / width, spec.height / height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        scaled = _old_scale(frame, new_w, new_h)
        canvas = np.full((spec.height, spec.width, 3), spec.letterbox_fill, dtype=np.uint8)
        y0, x0 = (spec.height - new_h) // 2, (spec.width - new_w) // 2
        canvas[y0 : y0 + new_h, x0 : x0 + new_w] = scaled
        return canvas
    return _old_scale(frame, spec.width, spec.height)


def _old_scale(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width < frame.shape[1] or height < frame.shape[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


# ---------------------------------------------------------------------------------------------------------

FRAME_SIZES = [(480, 640), (352, 480), (720, 1280), (40, 30), (64, 64), (17, 93), (128, 128), (3, 500)]
SPEC_SIZES = [(64, 64), (128, 128), (48, 40), (40, 48), (256, 144)]


def _frame(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + height * 7919 + width)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("resize", ["stretch", "letterbox", "center_crop"])
@pytest.mark.parametrize("spec_size", SPEC_SIZES)
def test_default_convention_is_byte_identical_to_the_old_implementation(resize: str,
                                                                       spec_size: tuple[int, int]) -> None:
    for index, (height, width) in enumerate(FRAME_SIZES):
        for color_order in ("RGB", "BGR"):
            spec = ImageSpec(width=spec_size[0], height=spec_size[1], resize=resize,  # type: ignore[arg-type]
                             color_order=color_order, letterbox_fill=index * 30)
            frame = _frame(height, width)
            new, old = prepare_image(frame, spec, "BGR"), _old_prepare_image(frame, spec, "BGR")
            assert new.dtype == np.uint8 and new.flags.c_contiguous
            assert np.array_equal(new, old), (resize, spec_size, (height, width), color_order)


@pytest.mark.parametrize("channels", [1, 4])
def test_grey_and_rgba_frames_are_unchanged_too(channels: int) -> None:
    for resize in ("stretch", "letterbox", "center_crop"):
        spec = ImageSpec(width=48, height=40, resize=resize, color_order="BGR")
        frame = _frame(90, 61, channels)
        assert np.array_equal(prepare_image(frame, spec, "RGB"), _old_prepare_image(frame, spec, "RGB"))


def test_explicit_auto_interpolation_is_the_default() -> None:
    frame = _frame(352, 480)
    for resize in ("stretch", "letterbox", "center_crop"):
        default = ImageSpec(width=128, height=96, resize=resize)
        explicit = ImageSpec(width=128, height=96, resize=resize, interpolation="auto",
                             convention="opencv", border="constant")
        assert default == explicit
        assert np.array_equal(prepare_image(frame, explicit), _old_prepare_image(frame, default))


def test_the_shipped_bundle_gets_the_same_tensor_as_before() -> None:
    image = read_bundle(default_bundle_path()).manifest.input("image")
    assert image is not None
    spec = image.preprocess
    assert isinstance(spec, ImageSpec)
    for height, width in FRAME_SIZES:
        frame = _frame(height, width, seed=3)
        new = normalize_image(prepare_image(frame, spec, "BGR"), spec)
        assert np.array_equal(new, normalize_image(_old_prepare_image(frame, spec, "BGR"), spec))


def test_prepare_image_is_prepare_image_with_transform_without_the_transform() -> None:
    spec = ImageSpec(width=128, height=128, resize="letterbox", mean=(127.5,) * 3, std=(127.5,) * 3)
    frame = _frame(352, 480)
    pixels, transform = prepare_image_with_transform(frame, spec, "BGR")
    assert np.array_equal(pixels, prepare_image(frame, spec, "BGR"))
    assert transform.source_size == (480, 352) and transform.input_size == (128, 128)


def test_the_issue_example_rounds_the_box_to_94_rows_at_row_17() -> None:
    """480x352 (15:11: any such frame) into 128x128: the exact box is 93.87 rows at 17.07; opencv rounds."""
    frame = np.full((352, 480, 3), 200, dtype=np.uint8)
    pixels, transform = prepare_image_with_transform(frame, ImageSpec(width=128, height=128, resize="letterbox"))
    rows = np.flatnonzero(pixels[:, 64, 0])
    assert (rows[0], len(rows)) == (17, 94)
    assert transform.padding == pytest.approx((0.0, 17 / 128, 0.0, 17 / 128))
    assert transform.to_input(np.array([[0.0, 0.0], [1.0, 1.0]])) == pytest.approx(
        np.array([[0.0, 17 / 128], [1.0, 111 / 128]]))


@pytest.mark.parametrize(("interpolation", "flag"), [("area", cv2.INTER_AREA), ("linear", cv2.INTER_LINEAR),
                                                     ("nearest", cv2.INTER_NEAREST)])
def test_a_named_interpolation_is_used_whether_shrinking_or_enlarging(interpolation: str, flag: int) -> None:
    for height, width in ((352, 480), (30, 40)):
        frame = _frame(height, width)
        spec = ImageSpec(width=64, height=48, interpolation=interpolation)  # type: ignore[arg-type]
        assert np.array_equal(prepare_image(frame, spec, "RGB"), cv2.resize(frame, (64, 48), interpolation=flag))


def test_auto_is_area_when_shrinking_and_linear_when_enlarging() -> None:
    small, large = _frame(30, 40), _frame(352, 480)
    auto = ImageSpec(width=64, height=48)
    assert np.array_equal(prepare_image(large, auto, "RGB"),
                          prepare_image(large, ImageSpec(width=64, height=48, interpolation="area"), "RGB"))
    assert np.array_equal(prepare_image(small, auto, "RGB"),
                          prepare_image(small, ImageSpec(width=64, height=48, interpolation="linear"), "RGB"))
    assert not np.array_equal(prepare_image(large, auto, "RGB"),
                              prepare_image(large, ImageSpec(width=64, height=48, interpolation="linear"), "RGB"))


def test_nearest_keeps_only_frame_values() -> None:
    frame = _frame(100, 130)
    pixels = prepare_image(frame, ImageSpec(width=37, height=29, resize="letterbox", interpolation="nearest",
                                            letterbox_fill=0), "RGB")
    assert set(np.unique(pixels)) <= set(np.unique(frame)) | {0}


def test_center_crop_cuts_the_longer_side_evenly() -> None:
    frame = np.zeros((100, 300, 3), dtype=np.uint8)
    frame[:, :100], frame[:, 100:200], frame[:, 200:] = 10, 120, 250
    pixels, transform = prepare_image_with_transform(frame, ImageSpec(width=50, height=50, resize="center_crop"), "RGB")
    assert (pixels == 120).all()
    tall = np.zeros((300, 100, 3), dtype=np.uint8)
    tall[100:200] = 77
    assert (prepare_image(tall, ImageSpec(width=20, height=20, resize="center_crop"), "RGB") == 77).all()
    assert transform.to_source(np.array([[0.0, 0.5]]))[0] == pytest.approx([1 / 3, 0.5])


def test_letterbox_can_replicate_the_edge_instead_of_bars() -> None:
    frame = np.full((40, 100, 3), 90, dtype=np.uint8)
    pixels = prepare_image(frame, ImageSpec(width=64, height=64, resize="letterbox", border="replicate"), "RGB")
    assert (pixels == 90).all()
