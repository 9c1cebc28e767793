"""Non-maximum suppression on normalised (xmin, ymin, xmax, ymax) boxes: greedy, and MediaPipe's weighted.

``hard`` keeps the best box and drops every box whose IoU with it exceeds the threshold, then
repeats. ``weighted`` (MediaPipe's ``NonMaxSuppressionCalculator`` with ``algorithm: WEIGHTED``,
what its face and palm graphs use) replaces the kept box, and its keypoints, by the score-weighted
mean of the cluster it suppresses; the score stays the best one's. Per class, each class is
suppressed on its own (in one pass: each class is shifted to a region of its own) and the
survivors come out by score.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["NMSAlgorithm", "iou_one_to_many", "suppress"]

NMSAlgorithm = Literal["hard", "weighted"]
F64 = npt.NDArray[np.float64]


def iou_one_to_many(box: npt.NDArray[Any], boxes: npt.NDArray[Any]) -> F64:
    """IoU of one box with each of ``boxes`` (M, 4); 0 where both have no area."""
    ix = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    iy = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    out: F64 = np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)
    return out


def _one_class(boxes: F64, scores: F64, keypoints: F64, iou_threshold: float, max_detections: int,
               algorithm: NMSAlgorithm) -> tuple[list[int], F64, F64]:
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    out_boxes, out_points = [], []
    while order.size and len(kept) < max_detections:
        best = order[0]
        overlap = iou_one_to_many(boxes[best], boxes[order])
        cluster = overlap > iou_threshold
        cluster[0] = True  # the best box itself, even with no area
        kept.append(int(best))
        if algorithm == "weighted":
            members = order[cluster]
            weights = scores[members] / scores[members].sum() if scores[members].sum() > 0 else None
            out_boxes.append(np.average(boxes[members], axis=0, weights=weights))
            out_points.append(np.average(keypoints[members], axis=0, weights=weights))
        else:
            out_boxes.append(boxes[best])
            out_points.append(keypoints[best])
        order = order[~cluster]
    shape = keypoints.shape[1:]
    return (kept, np.asarray(out_boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(out_points, dtype=np.float64).reshape(len(kept), *shape))


def suppress(boxes: npt.NDArray[Any], scores: npt.NDArray[Any], *, iou_threshold: float, max_detections: int,
             class_ids: npt.NDArray[Any] | None = None, keypoints: npt.NDArray[Any] | None = None,
             algorithm: NMSAlgorithm = "hard") -> tuple[npt.NDArray[np.intp], F64, F64]:
    """Indices of the kept boxes (best first), their boxes and keypoints (weighted means for ``weighted``).

    ``class_ids`` given: per-class suppression; None: class-agnostic. ``keypoints`` is (N, K, 2).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    points = (np.zeros((boxes.shape[0], 0, 2)) if keypoints is None else np.asarray(keypoints, dtype=np.float64))
    if class_ids is None or boxes.shape[0] == 0:
        kept, out_boxes, out_points = _one_class(boxes, scores, points, iou_threshold, max_detections, algorithm)
        return np.asarray(kept, dtype=np.intp), out_boxes, out_points
    # per class in one pass: each class moved to a region of its own, so boxes of two classes never overlap
    ids = np.asarray(class_ids).reshape(-1)
    span = float(boxes.max() - boxes.min()) + 1.0
    shift = (ids - ids.min()).astype(np.float64) * span
    kept, out_boxes, out_points = _one_class(boxes + shift[:, None], scores, points, iou_threshold, max_detections,
                                             algorithm)
    indices = np.asarray(kept, dtype=np.intp)
    return indices, out_boxes - shift[indices][:, None], out_points
