"""Segmentation masks and landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import Landmarks, Segmentation, TaskSpec, make_decoder

from .conftest import Letterbox


def test_segment_argmax_areas_and_png() -> None:
    cv2 = pytest.importorskip("cv2")
    scores = np.zeros((1, 4, 5, 3), dtype=np.float32)
    scores[0, :, :, 0] = 1.0  # background everywhere...
    scores[0, :2, :, 1] = 2.0  # ...but the top two rows are class 1
    scores[0, 3, 4, 2] = 5.0  # and one pixel class 2
    spec = TaskSpec("segment", {"mask": "seg"}, ("bg", "person", "cat"), {"png": True})
    result = make_decoder(spec).decode({"seg": scores})
    assert isinstance(result, Segmentation)
    assert result.areas == pytest.approx({"bg": 9 / 20, "person": 10 / 20, "cat": 1 / 20})
    assert result.mask.shape == (4, 5) and result.mask[3, 4] == 2 and result.mask.dtype == np.uint8
    assert result.png is not None
    decoded = cv2.imdecode(np.frombuffer(result.png, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, result.mask)
    assert result.to_json() == {"shape": [4, 5], "areas": result.areas, "png_bytes": len(result.png)}


def test_segment_single_channel_threshold() -> None:
    probs = np.array([[[[0.1], [0.6]], [[0.5], [0.49]]]], dtype=np.float32)  # [1, 2, 2, 1]
    result = make_decoder(TaskSpec("segment", {"mask": "m"}, params={"threshold": 0.5})).decode({"m": probs})
    np.testing.assert_array_equal(result.mask, [[0, 1], [1, 0]])
    assert result.areas == {"background": 0.5, "foreground": 0.5} and result.png is None
    with pytest.raises(InputError, match=r"has 2 classes but the spec has 3 labels"):
        make_decoder(TaskSpec("segment", {"mask": "m"}, ("a", "b", "c"))).decode({"m": probs})


def test_landmarks_flat_and_grid_layouts_normalised_by_the_input_size() -> None:
    flat = np.array([[64.0, 128.0, 32.0, 256.0, 0.0, -16.0]], dtype=np.float32)  # [1, 3 * 2]
    spec = TaskSpec("landmarks", {"landmarks": "ld"}, ("nose", "chin"), {"input_width": 256, "input_height": 128})
    result = make_decoder(spec).decode({"ld": flat})
    assert isinstance(result, Landmarks)
    np.testing.assert_allclose(result.points, [[0.25, 1.0, 0.125], [1.0, 0.0, -0.0625]])
    assert result.to_json()["names"] == ["nose", "chin"] and result.to_json()["dims"] == 3
    grid = flat.reshape(1, 2, 3)[:, :, :2]  # [1, K, 2]
    result2 = make_decoder(spec).decode({"ld": grid})
    np.testing.assert_allclose(result2.points, [[0.25, 1.0], [1.0, 0.0]])
    pose = np.arange(10, dtype=np.float32).reshape(1, 10)  # two points of x, y, z, visibility, presence
    five = TaskSpec("landmarks", {"landmarks": "ld"}, params={"input_width": 1.0, "input_height": 1.0,
                                                               "values_per_point": 5})
    np.testing.assert_allclose(make_decoder(five).decode({"ld": pose}).points, [[0, 1, 2], [5, 6, 7]])
    letterboxed = make_decoder(spec).decode({"ld": flat}, to_source=Letterbox(200, 100, 256, 128))
    # 200x100 into 256x128: scale 1.28, 0 px bars: x = 64 / 1.28 / 200 = 0.25, z untouched
    np.testing.assert_allclose(letterboxed.points[0], [0.25, 1.0, 0.125])
    with pytest.raises(InputError, match=r"has 7 values, not a multiple of params.values_per_point \(3\)"):
        make_decoder(spec).decode({"ld": np.zeros((1, 7), dtype=np.float32)})
    with pytest.raises(InputError, match=r"has 3 points but the spec names 2"):
        make_decoder(spec).decode({"ld": np.zeros((1, 9), dtype=np.float32)})
    with pytest.raises(BundleError, match=r"params.input_height: missing. Expected the model input's height"):
        TaskSpec("landmarks", {"landmarks": "ld"}, params={"input_width": 256})
