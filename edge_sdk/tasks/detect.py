"""Object detection: SSD/BlazeFace raw outputs decoded against anchors, or TFLite_Detection_PostProcess.

Two output layouts, told apart by the roles in ``TaskSpec.outputs``:

- ``boxes`` + ``scores``: raw SSD outputs, ``boxes [1, N, K]`` (K >= 4: box, then keypoints) and
  ``scores [1, N, C]``, decoded as MediaPipe's ``TensorsToDetectionsCalculator`` does against the
  anchors of ``params.anchors`` (:class:`~edge_sdk.tasks.anchors.SsdAnchorOptions`), with its option
  names (``x_scale``... ``reverse_output_order``, ``sigmoid_score``, ``score_clipping_thresh``), then
  non-maximum suppression (``nms``: ``hard`` or MediaPipe's ``weighted``; ``class_agnostic``).
- ``boxes`` + ``classes`` + ``scores`` + ``count``: the ``TFLite_Detection_PostProcess`` op's
  outputs, ``boxes [1, M, 4]`` as (ymin, xmin, ymax, xmax), already suppressed; ``count`` <= M rows
  are valid. ``label_offset`` shifts class ids into ``labels`` (COCO label maps that start "???").

``score_threshold`` and ``max_detections`` apply to both. Boxes come out as (xmin, ymin, xmax,
ymax) in [0, 1] after ``to_source``; keypoints are (x, y) pairs, not clipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from edge_sdk.errors import BundleError, InputError
from edge_sdk.tasks._options import check, parse_options
from edge_sdk.tasks.anchors import SsdAnchorOptions, generate_ssd_anchors
from edge_sdk.tasks.base import Decoder, PointTransform, TaskKind, TaskResult, TaskSpec, finite, map_boxes, map_points
from edge_sdk.tasks.nms import NMSAlgorithm, suppress

__all__ = ["DetectOptions", "Detection", "Detections", "PostProcessDecoder", "SsdDecoder", "decoder", "validate"]

SSD_ROLES = frozenset({"boxes", "scores"})
POSTPROCESS_ROLES = frozenset({"boxes", "classes", "scores", "count"})
_SLACK = 1e-4


@dataclass(frozen=True)
class DetectOptions:
    score_threshold: float = 0.5
    max_detections: int = 100
    iou_threshold: float = 0.5
    nms: NMSAlgorithm = "hard"
    class_agnostic: bool = True
    label_offset: int = 0
    anchors: SsdAnchorOptions | None = None
    x_scale: float | None = None
    y_scale: float | None = None
    w_scale: float | None = None
    h_scale: float | None = None
    apply_exponential_on_box_size: bool = False
    reverse_output_order: bool = False
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    num_keypoints: int | None = None
    num_values_per_keypoint: int = 2
    sigmoid_score: bool = False
    score_clipping_thresh: float | None = None
    ignore_classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check(0.0 <= self.score_threshold <= 1.0, "score_threshold", f"expected 0 to 1. Got: {self.score_threshold}")
        check(0.0 <= self.iou_threshold <= 1.0, "iou_threshold", f"expected 0 to 1. Got: {self.iou_threshold}")
        check(self.max_detections >= 1, "max_detections", f"expected at least 1. Got: {self.max_detections}")
        for name in ("x_scale", "y_scale", "w_scale", "h_scale"):
            value = getattr(self, name)
            check(value is None or value != 0, name, "expected a non-zero number (raw values are divided by it)")
        check(self.num_values_per_keypoint >= 2, "num_values_per_keypoint",
              f"expected at least 2 (x, y). Got: {self.num_values_per_keypoint}")
        check(self.score_clipping_thresh is None or self.score_clipping_thresh > 0, "score_clipping_thresh",
              f"expected a positive number. Got: {self.score_clipping_thresh}")


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in [0, 1]
    label: str
    class_id: int
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": [finite(v, f"detection box of {self.label!r}") for v in self.box],
                               "label": self.label, "class_id": self.class_id,
                               "score": finite(self.score, f"detection score of {self.label!r}")}
        if self.keypoints:
            out["keypoints"] = [[finite(x, "detection keypoint"), finite(y, "detection keypoint")]
                                for x, y in self.keypoints]
        return out


@dataclass(frozen=True)
class Detections(TaskResult):
    kind: ClassVar[TaskKind] = "detect"
    detections: tuple[Detection, ...]

    def to_json(self) -> dict[str, Any]:
        return {"count": len(self.detections), "detections": [d.to_json() for d in self.detections]}


def validate(spec: TaskSpec) -> DetectOptions:
    roles = frozenset(spec.outputs)
    if roles not in (SSD_ROLES, POSTPROCESS_ROLES):
        raise BundleError("task 'detect' outputs: expected the roles boxes, scores (raw SSD outputs decoded against "
                          "anchors) or boxes, classes, scores, count (TFLite_Detection_PostProcess). Got: "
                          f"{', '.join(sorted(roles)) or 'none'}")
    options = parse_options(DetectOptions, spec.params, "task 'detect' params")
    if roles == SSD_ROLES:
        missing = [name for name in ("anchors", "x_scale", "y_scale", "w_scale", "h_scale")
                   if getattr(options, name) is None]
        if missing:
            raise BundleError(f"task 'detect' params: raw SSD outputs (boxes, scores) need {', '.join(missing)}: "
                              "anchors as MediaPipe's SsdAnchorsCalculatorOptions, the scales as in its "
                              "TensorsToDetectionsCalculatorOptions (BlazeFace: the input size, 128.0; SSD "
                              "MobileNet: 10, 10, 5, 5)")
    return options


class _DetectDecoder(Decoder):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.options: DetectOptions = spec.options

    def _label(self, class_id: int) -> str:
        return self.spec.label(class_id + self.options.label_offset)

    def _check_scores(self, scores: npt.NDArray[Any]) -> None:
        if scores.size and (scores.min() < -_SLACK or scores.max() > 1.0 + _SLACK):
            raise InputError(f"task 'detect': scores range {scores.min():g} to {scores.max():g}, not 0 to 1; set "
                             "params.sigmoid_score: true if the model outputs logits")

    def _results(self, boxes_xyxy: npt.NDArray[Any], scores: npt.NDArray[Any], class_ids: npt.NDArray[Any],
                 keypoints: npt.NDArray[Any], to_source: PointTransform | None) -> Detections:
        self._check_scores(scores)
        boxes = map_boxes(boxes_xyxy, to_source)
        points = map_points(keypoints.reshape(-1, 2), to_source).reshape(keypoints.shape)
        rows = cast(list[Any], points.tolist())
        return Detections(tuple(
            Detection(box=(b[0], b[1], b[2], b[3]), label=self._label(c), class_id=c, score=min(max(s, 0.0), 1.0),
                      keypoints=tuple((x, y) for x, y in kp))
            for b, s, c, kp in zip(boxes.tolist(), scores.tolist(), class_ids.tolist(), rows)))


class SsdDecoder(_DetectDecoder):
    """Raw SSD outputs against anchors made once, at construction."""

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        options = self.options
        assert options.anchors is not None  # validate() saw to it
        self.anchors = generate_ssd_anchors(options.anchors)
        self._anchor_xy = self.anchors[:, 0:2].astype(np.float64)
        self._anchor_wh = self.anchors[:, 2:4].astype(np.float64)
        offset = options.box_coord_offset  # MediaPipe: (y, x, h, w), reversed (x, y, w, h)
        self._box_cols = ([offset + 0, offset + 1, offset + 2, offset + 3] if options.reverse_output_order
                          else [offset + 1, offset + 0, offset + 3, offset + 2])  # -> x, y, w, h
        self._scale_xy = np.array([options.x_scale, options.y_scale], dtype=np.float64)
        self._scale_wh = np.array([options.w_scale, options.h_scale], dtype=np.float64)
        threshold = options.score_threshold
        if options.sigmoid_score:  # compare logits with logit(threshold): sigmoid only the candidates
            self._raw_threshold = -math.inf if threshold <= 0 else (
                math.inf if threshold >= 1 else math.log(threshold / (1 - threshold)) - 1e-6)
        else:
            self._raw_threshold = threshold
        self._kept_classes: dict[int, npt.NDArray[np.intp]] = {}  # per class count, made on the first frame
        self._keypoint_cols: dict[int, npt.NDArray[np.intp]] = {}  # per values per anchor, likewise

    def _keypoint_columns(self, coords: int) -> npt.NDArray[np.intp]:
        options = self.options
        per = options.num_values_per_keypoint
        count = options.num_keypoints
        if count is None:
            count = max(0, (coords - options.keypoint_coord_offset) // per) if coords > 4 else 0
        if count and options.keypoint_coord_offset + count * per > coords:
            raise InputError(f"task 'detect': boxes have {coords} values per anchor, too few for {count} keypoints of "
                             f"{per} values from offset {options.keypoint_coord_offset}")
        starts = options.keypoint_coord_offset + per * np.arange(count, dtype=np.intp)
        pair = [0, 1] if options.reverse_output_order else [1, 0]  # -> x, y
        return (starts[:, None] + np.asarray(pair, dtype=np.intp)[None, :]).reshape(-1)

    def _best_class(self, scores: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
        classes = scores.shape[1]
        if not self.options.ignore_classes:
            if classes == 1:
                return scores[:, 0], np.zeros(scores.shape[0], dtype=np.intp)
            ids = np.argmax(scores, axis=1)
            return np.take_along_axis(scores, ids[:, None], axis=1)[:, 0], ids
        kept = self._kept_classes.get(classes)
        if kept is None:
            kept = np.asarray([c for c in range(classes) if c not in self.options.ignore_classes], dtype=np.intp)
            if not kept.size:
                raise InputError(f"task 'detect': ignore_classes leaves none of the {classes} classes")
            self._kept_classes[classes] = kept
        subset = scores[:, kept]
        ids = np.argmax(subset, axis=1)
        return np.take_along_axis(subset, ids[:, None], axis=1)[:, 0], kept[ids]

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Detections:
        options = self.options
        raw_boxes = self.batch1(self.tensor(outputs, "boxes"), "boxes", 2)
        raw_scores = self.batch1(self.tensor(outputs, "scores"), "scores", 2)
        count, coords = raw_boxes.shape
        if count != self.anchors.shape[0] or raw_scores.shape[0] != count:
            raise InputError(f"task 'detect': boxes {list(raw_boxes.shape)} and scores {list(raw_scores.shape)} "
                             f"should both have one row per anchor; params.anchors gives {self.anchors.shape[0]}")
        if coords < options.box_coord_offset + 4:
            raise InputError(f"task 'detect': boxes have {coords} values per anchor; a box needs 4 from offset "
                             f"{options.box_coord_offset}")
        best, class_ids = self._best_class(raw_scores)
        if options.sigmoid_score and options.score_clipping_thresh is not None:
            best = np.clip(best, -options.score_clipping_thresh, options.score_clipping_thresh)
        candidates = np.flatnonzero(best >= self._raw_threshold)
        score = best[candidates].astype(np.float64)
        if options.sigmoid_score:
            score = 1.0 / (1.0 + np.exp(-score))
            keep = score >= options.score_threshold
            candidates, score = candidates[keep], score[keep]
        rows = raw_boxes[candidates].astype(np.float64)
        anchor_xy, anchor_wh = self._anchor_xy[candidates], self._anchor_wh[candidates]
        box = rows[:, self._box_cols]
        center = box[:, 0:2] / self._scale_xy * anchor_wh + anchor_xy
        size = box[:, 2:4] / self._scale_wh
        size = (np.exp(size) if options.apply_exponential_on_box_size else size) * anchor_wh
        xyxy = np.concatenate([center - size / 2, center + size / 2], axis=1)
        positive = (size >= 0).all(axis=1)  # MediaPipe drops boxes decoded with a negative size
        kp_cols = self._keypoint_cols.get(coords)
        if kp_cols is None:
            kp_cols = self._keypoint_cols[coords] = self._keypoint_columns(coords)
        offsets = rows[:, kp_cols].reshape(len(candidates), kp_cols.size // 2, 2)
        points = offsets / self._scale_xy * anchor_wh[:, None, :] + anchor_xy[:, None, :]
        class_ids = class_ids[candidates]
        xyxy, score, class_ids, points = xyxy[positive], score[positive], class_ids[positive], points[positive]
        kept, xyxy, points = suppress(xyxy, score, iou_threshold=options.iou_threshold,
                                      max_detections=options.max_detections, keypoints=points,
                                      class_ids=None if options.class_agnostic else class_ids, algorithm=options.nms)
        return self._results(xyxy, score[kept], class_ids[kept], points, to_source)


class PostProcessDecoder(_DetectDecoder):
    """The outputs of ``TFLite_Detection_PostProcess``: boxes, classes, scores and count."""

    def decode(self, outputs: Mapping[str, npt.NDArray[Any]], to_source: PointTransform | None = None) -> Detections:
        boxes = self.batch1(self.tensor(outputs, "boxes"), "boxes", 2)
        classes = self.batch1(self.tensor(outputs, "classes"), "classes", 1)
        scores = self.batch1(self.tensor(outputs, "scores"), "scores", 1)
        count_array = self.tensor(outputs, "count").reshape(-1)
        rows = boxes.shape[0]
        if boxes.shape[1] != 4 or classes.shape[0] != rows or scores.shape[0] != rows or count_array.size != 1:
            raise InputError(f"task 'detect': TFLite_Detection_PostProcess outputs should be boxes [1, M, 4], classes "
                             f"[1, M], scores [1, M], count [1]. Got: boxes {list(boxes.shape)}, classes "
                             f"{list(classes.shape)}, scores {list(scores.shape)}, count {list(count_array.shape)}")
        count = float(count_array[0])
        if not math.isfinite(count) or count < 0:
            raise InputError(f"task 'detect': count is {count}, expected 0 to {rows}")
        valid = min(round(count), rows)
        score = scores[:valid].astype(np.float64)
        keep = np.flatnonzero(score >= self.options.score_threshold)
        keep = keep[np.argsort(-score[keep], kind="stable")][:self.options.max_detections]
        yxyx = boxes[keep].astype(np.float64)
        return self._results(yxyx[:, [1, 0, 3, 2]], score[keep], np.rint(classes[keep]).astype(np.intp),
                             np.zeros((keep.size, 0, 2)), to_source)


def decoder(spec: TaskSpec) -> _DetectDecoder:
    return SsdDecoder(spec) if frozenset(spec.outputs) == SSD_ROLES else PostProcessDecoder(spec)
