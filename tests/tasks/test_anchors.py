"""SSD anchors against MediaPipe's SsdAnchorsCalculator: known counts, hand values, a literal port."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import BundleError
from edge_sdk.tasks import SsdAnchorOptions, TaskSpec, generate_ssd_anchors

# graphs of mediapipe/modules: face_detection_short_range (front), palm_detection lite and full, and the
# example in ssd_anchors_calculator.cc (SSD MobileNet, 300x300, num_boxes 1917 in its detections example)
BLAZEFACE: dict[str, Any] = {
    "num_layers": 4, "min_scale": 0.1484375, "max_scale": 0.75, "input_size_height": 128, "input_size_width": 128,
    "anchor_offset_x": 0.5, "anchor_offset_y": 0.5, "strides": (8, 16, 16, 16), "aspect_ratios": (1.0,),
    "fixed_anchor_size": True}
PALM_LITE: dict[str, Any] = {
    "num_layers": 4, "min_scale": 0.1484375, "max_scale": 0.75, "input_size_height": 192, "input_size_width": 192,
    "strides": (8, 16, 16, 16), "aspect_ratios": (1.0,), "fixed_anchor_size": True}
PALM_FULL: dict[str, Any] = {
    "num_layers": 5, "min_scale": 0.1171875, "max_scale": 0.75, "input_size_height": 256, "input_size_width": 256,
    "strides": (8, 16, 32, 32, 32), "aspect_ratios": (1.0,), "fixed_anchor_size": True}
SSD_MOBILENET: dict[str, Any] = {
    "num_layers": 6, "min_scale": 0.2, "max_scale": 0.95, "input_size_height": 300, "input_size_width": 300,
    "strides": (16, 32, 64, 128, 256, 512), "aspect_ratios": (1.0, 2.0, 0.5, 3.0, 0.3333),
    "reduce_boxes_in_lowest_layer": True}


def mediapipe_reference(o: dict[str, Any]) -> list[tuple[float, float, float, float]]:
    """SsdAnchorsCalculator::GenerateAnchors transcribed loop for loop (non-multiscale path)."""
    defaults = {"anchor_offset_x": 0.5, "anchor_offset_y": 0.5, "reduce_boxes_in_lowest_layer": False,
                "interpolated_scale_aspect_ratio": 1.0, "fixed_anchor_size": False, "aspect_ratios": ()}
    o = {**defaults, **o}
    strides = o["strides"]

    def scale_of(index: int) -> float:
        if len(strides) == 1:
            return (o["min_scale"] + o["max_scale"]) * 0.5
        return o["min_scale"] + (o["max_scale"] - o["min_scale"]) * 1.0 * index / (len(strides) - 1.0)

    anchors = []
    layer_id = 0
    while layer_id < o["num_layers"]:
        heights, widths, ratios, scales = [], [], [], []
        last = layer_id
        while last < len(strides) and strides[last] == strides[layer_id]:
            scale = scale_of(last)
            if last == 0 and o["reduce_boxes_in_lowest_layer"]:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in o["aspect_ratios"]:
                    ratios.append(ratio)
                    scales.append(scale)
                if o["interpolated_scale_aspect_ratio"] > 0.0:
                    following = 1.0 if last == len(strides) - 1 else scale_of(last + 1)
                    scales.append(math.sqrt(scale * following))
                    ratios.append(o["interpolated_scale_aspect_ratio"])
            last += 1
        for ratio, scale in zip(ratios, scales):
            heights.append(scale / math.sqrt(ratio))
            widths.append(scale * math.sqrt(ratio))
        stride = strides[layer_id]
        rows = math.ceil(1.0 * o["input_size_height"] / stride)
        cols = math.ceil(1.0 * o["input_size_width"] / stride)
        for y in range(rows):
            for x in range(cols):
                for k in range(len(heights)):
                    xc = (x + o["anchor_offset_x"]) * 1.0 / cols
                    yc = (y + o["anchor_offset_y"]) * 1.0 / rows
                    w, h = (1.0, 1.0) if o["fixed_anchor_size"] else (widths[k], heights[k])
                    anchors.append((xc, yc, w, h))
        layer_id = last
    return anchors


@pytest.mark.parametrize(("config", "count"), [(BLAZEFACE, 896), (PALM_LITE, 2016), (PALM_FULL, 2944),
                                               (SSD_MOBILENET, 1917)])
def test_anchor_counts_match_the_mediapipe_graphs(config: dict[str, Any], count: int) -> None:
    anchors = generate_ssd_anchors(SsdAnchorOptions(**config))
    assert anchors.shape == (count, 4)
    assert anchors.dtype == np.float32


@pytest.mark.parametrize("config", [BLAZEFACE, PALM_FULL, SSD_MOBILENET,
                                    {**SSD_MOBILENET, "interpolated_scale_aspect_ratio": 0.0,
                                     "anchor_offset_x": 0.0, "input_size_width": 320}])
def test_anchors_equal_a_literal_port_of_the_calculator(config: dict[str, Any]) -> None:
    expected = np.asarray(mediapipe_reference(config), dtype=np.float64)
    got = generate_ssd_anchors(SsdAnchorOptions(**config))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_blazeface_anchor_values_by_hand() -> None:
    anchors = generate_ssd_anchors(SsdAnchorOptions(**BLAZEFACE))
    # stride 8: a 16x16 grid, 2 anchors per cell (aspect 1 and the interpolated one), row-major
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[1], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[32], [0.5 / 16, 1.5 / 16, 1, 1])  # second row
    # three stride-16 layers merge: an 8x8 grid with 6 anchors per cell from index 512
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8, 1, 1]] * 6)
    np.testing.assert_allclose(anchors[518], [1.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_ssd_mobilenet_anchor_shapes_by_hand() -> None:
    anchors = generate_ssd_anchors(SsdAnchorOptions(**SSD_MOBILENET))
    s = math.sqrt
    # lowest layer reduced: (ratio 1, scale 0.1), (2, 0.2), (0.5, 0.2) on a 19x19 grid (ceil(300 / 16))
    np.testing.assert_allclose(anchors[0], [0.5 / 19, 0.5 / 19, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(anchors[1, 2:], [0.2 * s(2), 0.2 / s(2)], rtol=1e-6)
    np.testing.assert_allclose(anchors[2, 2:], [0.2 * s(0.5), 0.2 / s(0.5)], rtol=1e-6)
    # layer 1 starts after 19*19*3: scale 0.2 + 0.75 / 5 = 0.35, five ratios then sqrt(0.35 * 0.5) at ratio 1
    first = 19 * 19 * 3
    np.testing.assert_allclose(anchors[first], [0.05, 0.05, 0.35, 0.35], rtol=1e-6)
    np.testing.assert_allclose(anchors[first + 3, 2:], [0.35 * s(3), 0.35 / s(3)], rtol=1e-6)
    np.testing.assert_allclose(anchors[first + 5, 2:], [s(0.35 * 0.5)] * 2, rtol=1e-6)
    # the last layer (1x1) interpolates towards 1.0
    np.testing.assert_allclose(anchors[-1], [0.5, 0.5, s(0.95), s(0.95)], rtol=1e-6)


def test_bad_anchor_options_are_bundle_errors_with_the_path() -> None:
    params = {"anchors": {**BLAZEFACE, "strides": [8, 16]}, "x_scale": 128.0, "y_scale": 128.0, "w_scale": 128.0,
              "h_scale": 128.0}
    with pytest.raises(BundleError, match=r"params\.anchors\.strides: expected one stride per layer \(4\). Got: 2"):
        TaskSpec("detect", {"boxes": "b", "scores": "s"}, params=params)
    params["anchors"] = {**BLAZEFACE, "min_scale": "small"}
    with pytest.raises(BundleError, match=r"params\.anchors\.min_scale: expected a number. Got: 'small' \(str\)"):
        TaskSpec("detect", {"boxes": "b", "scores": "s"}, params=params)
    params["anchors"] = {**BLAZEFACE, "multiscale_anchor_generation": True}
    with pytest.raises(BundleError, match=r"anchors\.multiscale_anchor_generation: unknown option. Valid options: "
                                          r"anchor_offset_x, anchor_offset_y, aspect_ratios"):
        TaskSpec("detect", {"boxes": "b", "scores": "s"}, params=params)
