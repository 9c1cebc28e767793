"""Detection: box decoding by hand, NMS against brute force, TFLite_Detection_PostProcess, letterbox."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks import Detections, TaskSpec, make_decoder, suppress

from .conftest import Letterbox
from .test_anchors import BLAZEFACE

# 4x4 input, stride 2: a 2x2 grid, one 0.5x0.5 anchor per cell at (0.25|0.75, 0.25|0.75)
GRID = {"input_size_width": 4, "input_size_height": 4, "min_scale": 0.5, "max_scale": 0.5, "num_layers": 1,
        "strides": [2], "aspect_ratios": [1.0], "interpolated_scale_aspect_ratio": 0.0}
SCALES = {"x_scale": 10.0, "y_scale": 10.0, "w_scale": 10.0, "h_scale": 10.0}
POSTPROCESS = {"boxes": "detection_boxes", "classes": "detection_classes", "scores": "detection_scores",
               "count": "num_detections"}


def ssd_spec(**params: Any) -> TaskSpec:
    return TaskSpec("detect", {"boxes": "raw_boxes", "scores": "raw_scores"}, ("face",),
                    {"anchors": GRID, **SCALES, **params})


def test_box_and_keypoint_decoding_by_hand() -> None:
    raw = np.zeros((1, 4, 6), dtype=np.float32)
    raw[0, 3] = [1, -2, 10, 5, 2, 4]  # x, y, w, h, keypoint x, y (reverse_output_order)
    logits = np.full((1, 4, 1), -5.0, dtype=np.float32)
    logits[0, 3] = 2.0
    result = make_decoder(ssd_spec(reverse_output_order=True, sigmoid_score=True)).decode(
        {"raw_boxes": raw, "raw_scores": logits})
    assert isinstance(result, Detections) and len(result.detections) == 1
    found = result.detections[0]
    # anchor (0.75, 0.75, 0.5, 0.5): x = 1/10*0.5+0.75 = 0.8, y = 0.65, w = 0.5, h = 0.25; xmax 1.05 clipped to 1
    assert found.box == pytest.approx((0.55, 0.525, 1.0, 0.775))
    assert found.score == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert len(found.keypoints) == 1 and found.keypoints[0] == pytest.approx((0.85, 0.95))
    assert (found.label, found.class_id) == ("face", 0)
    # MediaPipe's default order is y, x, h, w (and keypoints y, x): the same box written that way
    raw_yx = raw[..., [1, 0, 3, 2, 5, 4]]
    again = make_decoder(ssd_spec(sigmoid_score=True)).decode({"raw_boxes": raw_yx, "raw_scores": logits})
    assert again.detections[0].box == pytest.approx(found.box)
    assert again.detections[0].keypoints[0] == pytest.approx(found.keypoints[0])


def test_exponential_box_size_negative_sizes_and_score_clipping() -> None:
    raw = np.zeros((1, 4, 4), dtype=np.float32)
    raw[0, 0] = [0, 0, 10 * math.log(0.5), 0]  # exp(w / w_scale) * 0.5 = 0.25, exp(0) * 0.5 = 0.5
    raw[0, 1] = [0, 0, -1, 1]  # exp(-0.1) * 0.5: positive
    scores = np.full((1, 4, 1), 1000.0, dtype=np.float32)
    scores[0, 2:] = -1000.0
    exp = make_decoder(ssd_spec(reverse_output_order=True, sigmoid_score=True, score_clipping_thresh=1.0,
                                apply_exponential_on_box_size=True)).decode({"raw_boxes": raw, "raw_scores": scores})
    assert len(exp.detections) == 2
    assert exp.detections[0].box == pytest.approx((0.125, 0.0, 0.375, 0.5))
    assert exp.detections[0].score == pytest.approx(1 / (1 + math.exp(-1.0)))  # clipped at 1 before the sigmoid
    raw[0, 0] = [0, 0, 5, 10]  # w = 5 / 10 * 0.5 = 0.25, h = 0.5
    plain = make_decoder(ssd_spec(reverse_output_order=True, sigmoid_score=True)).decode(
        {"raw_boxes": raw, "raw_scores": scores})
    assert len(plain.detections) == 1  # anchor 1 decodes to a negative width: dropped, as MediaPipe does
    assert plain.detections[0].box == pytest.approx((0.125, 0.0, 0.375, 0.5))
    assert plain.detections[0].score == pytest.approx(1.0)


def test_multi_class_ignore_classes_and_per_class_nms() -> None:
    raw = np.zeros((1, 4, 4), dtype=np.float32)
    raw[0, :, 2:] = 100.0  # every anchor grows to cover the frame: all boxes overlap completely
    scores = np.zeros((1, 4, 3), dtype=np.float32)
    scores[0, :, 0] = 0.99  # a background class, ignored
    scores[0, 0, 1], scores[0, 1, 2], scores[0, 2, 1], scores[0, 3, 2] = 0.9, 0.8, 0.7, 0.6
    spec = TaskSpec("detect", {"boxes": "b", "scores": "s"}, ("background", "cat", "dog"),
                    {"anchors": GRID, **SCALES, "ignore_classes": [0], "class_agnostic": False})
    per_class = make_decoder(spec).decode({"b": raw, "s": scores})
    assert [(d.label, round(d.score, 3)) for d in per_class.detections] == [("cat", 0.9), ("dog", 0.8)]
    agnostic = make_decoder(TaskSpec("detect", {"boxes": "b", "scores": "s"}, ("background", "cat", "dog"),
                                     {"anchors": GRID, **SCALES, "ignore_classes": [0]})).decode({"b": raw, "s": scores})
    assert [d.label for d in agnostic.detections] == ["cat"]


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> list[int]:
    def area(b: np.ndarray) -> float:
        return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])

    def overlap(a: np.ndarray, b: np.ndarray) -> float:
        inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = area(a) + area(b) - inter
        return inter / union if union > 0 else 0.0

    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if len(kept) < limit and all(overlap(boxes[i], boxes[j]) <= iou for j in kept):
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(8))
def test_hard_nms_equals_brute_force_on_random_boxes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    corner = rng.random((200, 2)) * 0.8
    boxes = np.concatenate([corner, corner + 0.05 + rng.random((200, 2)) * 0.3], axis=1)
    scores = rng.random(200)
    classes = rng.integers(0, 3, 200)
    for iou in (0.1, 0.3, 0.5, 0.7):
        kept, kept_boxes, _ = suppress(boxes, scores, iou_threshold=iou, max_detections=25)
        assert kept.tolist() == brute_force_nms(boxes, scores, iou, 25)
        np.testing.assert_array_equal(kept_boxes, boxes[kept])
        per_class, _, _ = suppress(boxes, scores, iou_threshold=iou, max_detections=25, class_ids=classes)
        expected: list[int] = []
        for cls in range(3):
            members = np.flatnonzero(classes == cls)
            expected += [int(members[k]) for k in brute_force_nms(boxes[members], scores[members], iou, 25)]
        expected = sorted(expected, key=lambda k: -scores[k])[:25]
        assert per_class.tolist() == expected


def test_weighted_nms_averages_the_cluster_by_score() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.1, 1.1, 1.1], [5, 5, 6, 6]])
    scores = np.array([0.75, 0.25, 0.5])
    points = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[5.5, 5.5]]])
    kept, out_boxes, out_points = suppress(boxes, scores, iou_threshold=0.3, max_detections=10, keypoints=points,
                                           algorithm="weighted")
    assert kept.tolist() == [0, 2]
    np.testing.assert_allclose(out_boxes[0], [0.025, 0.025, 1.025, 1.025])
    np.testing.assert_allclose(out_points[0], [[0.25, 0.25]])
    np.testing.assert_allclose(out_boxes[1], boxes[2])


def test_blazeface_shaped_outputs_give_one_face_with_six_keypoints() -> None:
    params = {"anchors": BLAZEFACE, "x_scale": 128.0, "y_scale": 128.0, "w_scale": 128.0, "h_scale": 128.0,
              "reverse_output_order": True, "sigmoid_score": True, "score_clipping_thresh": 100.0,
              "score_threshold": 0.5, "nms": "weighted", "iou_threshold": 0.3}
    decoder = make_decoder(TaskSpec("detect", {"boxes": "regressors", "scores": "classificators"}, ("face",), params))
    raw = np.zeros((1, 896, 16), dtype=np.float32)
    raw[0, :, 2:4] = 32.0  # 32 px wide and high on a 128 px input: a quarter of the frame
    logits = np.full((1, 896, 1), -10.0, dtype=np.float32)
    logits[0, 512:518] = 5.0  # the six anchors of the first stride-16 cell, all the same face
    result = decoder.decode({"regressors": raw, "classificators": logits})
    assert len(result.detections) == 1
    face = result.detections[0]
    # anchor (0.0625, 0.0625), w = 32 / 128 * 1: (-0.0625, -0.0625, 0.1875, 0.1875), clipped to the frame
    assert face.box == pytest.approx((0.0, 0.0, 0.1875, 0.1875), abs=1e-6)
    assert len(face.keypoints) == 6 and face.keypoints[0] == pytest.approx((0.0625, 0.0625))


def postprocess_outputs(count: float) -> dict[str, np.ndarray]:
    boxes = np.zeros((1, 10, 4), dtype=np.float32)
    boxes[0, 0] = [0.1, 0.2, 0.5, 0.6]  # ymin, xmin, ymax, xmax
    boxes[0, 1] = [0.0, 0.0, 1.0, 1.0]
    boxes[0, 2] = [0.3, 0.3, 0.4, 0.4]
    boxes[0, 3:] = [0.5, 0.5, 0.9, 0.9]
    classes = np.array([[17, 0, 2, 5, 5, 5, 5, 5, 5, 5]], dtype=np.float32)
    scores = np.array([[0.9, 0.6, 0.3, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99]], dtype=np.float32)
    return {"detection_boxes": boxes, "detection_classes": classes, "detection_scores": scores,
            "num_detections": np.array([count], dtype=np.float32)}


def test_postprocess_outputs_read_only_count_rows_as_xyxy() -> None:
    labels = ("???", "person", "bicycle", "car") + tuple(f"c{i}" for i in range(4, 19))
    spec = TaskSpec("detect", POSTPROCESS, labels, {"score_threshold": 0.5, "label_offset": 1})
    result = make_decoder(spec).decode(postprocess_outputs(3.0))
    # rows beyond count (score 0.99) are padding, row 2 is below the threshold
    assert [(d.label, d.class_id) for d in result.detections] == [("c18", 17), ("person", 0)]
    assert result.detections[0].box == pytest.approx((0.2, 0.1, 0.6, 0.5))
    assert result.detections[0].keypoints == ()
    assert make_decoder(TaskSpec("detect", POSTPROCESS, params={"score_threshold": 0.0})).decode(
        postprocess_outputs(0.0)).detections == ()
    capped = make_decoder(TaskSpec("detect", POSTPROCESS, params={"score_threshold": 0.0, "max_detections": 2}))
    assert [d.label for d in capped.decode(postprocess_outputs(10.0)).detections] == ["5", "5"]


def test_a_letterbox_transform_maps_boxes_and_keypoints_back_to_the_source() -> None:
    # a 200x100 frame letterboxed into 100x100: scale 0.5, content 100x50 with 25 px bars above and below
    letterbox = Letterbox(200, 100, 100, 100)
    outputs = postprocess_outputs(1.0)
    outputs["detection_boxes"][0, 0] = [0.375, 0.25, 0.625, 0.75]
    result = make_decoder(TaskSpec("detect", POSTPROCESS)).decode(outputs, to_source=letterbox)
    assert result.detections[0].box == pytest.approx((0.25, 0.25, 0.75, 0.75))
    raw = np.zeros((1, 4, 6), dtype=np.float32)
    raw[0, 0, 4:6] = [0.0, 0.0]  # keypoint at the anchor centre (0.25, 0.25) in the model input
    scores = np.array([[[0.9], [0.0], [0.0], [0.0]]], dtype=np.float32)
    face = make_decoder(ssd_spec(reverse_output_order=True)).decode({"raw_boxes": raw, "raw_scores": scores},
                                                                      to_source=letterbox).detections[0]
    assert face.keypoints[0] == pytest.approx((0.25, 0.0))  # (25 - 0) / 0.5 / 200, (25 - 25) / 0.5 / 100


def test_detect_spec_errors_say_what_was_expected_and_what_came() -> None:
    with pytest.raises(BundleError, match=r"expected the roles boxes, scores .* or boxes, classes, scores, count "
                                          r".*Got: boxes, score$"):
        TaskSpec("detect", {"boxes": "a", "score": "b"})
    with pytest.raises(BundleError, match=r"raw SSD outputs \(boxes, scores\) need anchors, x_scale"):
        TaskSpec("detect", {"boxes": "a", "scores": "b"})
    with pytest.raises(BundleError, match=r"params\.iou_threshold: expected 0 to 1. Got: 1.5"):
        TaskSpec("detect", POSTPROCESS, params={"iou_threshold": 1.5})
    with pytest.raises(BundleError, match=r"params\.nms: expected one of 'hard', 'weighted'. Got: 'soft'"):
        TaskSpec("detect", POSTPROCESS, params={"nms": "soft"})


def test_detect_tensor_errors() -> None:
    decoder = make_decoder(ssd_spec())
    with pytest.raises(InputError, match=r"one row per anchor; params.anchors gives 4"):
        decoder.decode({"raw_boxes": np.zeros((1, 5, 4), np.float32), "raw_scores": np.zeros((1, 5, 1), np.float32)})
    with pytest.raises(InputError, match=r"output 'raw_scores' \(role 'scores'\) is not among the model's outputs. "
                                         r"Got: raw_boxes, x"):
        decoder.decode({"raw_boxes": np.zeros((1, 4, 4), np.float32), "x": np.zeros(1)})
    with pytest.raises(InputError, match=r"set params.sigmoid_score: true"):
        decoder.decode({"raw_boxes": np.zeros((1, 4, 4), np.float32), "raw_scores": np.full((1, 4, 1), 7.0)})
    with pytest.raises(InputError, match=r"batch of 2"):
        decoder.decode({"raw_boxes": np.zeros((2, 4, 4), np.float32), "raw_scores": np.zeros((1, 4, 1))})
