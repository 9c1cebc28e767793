"""Decode time per task on realistic output shapes: what ``edge_sdk.tasks`` costs per frame.

``python bench/tasks.py [repeats]`` times ``decoder.decode(outputs)`` plus ``to_json()`` for each
case (median and p95 of ``repeats`` calls, 300 by default, after 20 uncounted ones), prints one
JSON object (``{"cases": [...]}``) on stdout and a table on stderr. Shapes: BlazeFace short range
(896 anchors x 16, weighted NMS, a handful of faces), SSD MobileNet (1917 anchors x 91 classes,
per-class NMS; about 40 candidates, and a noisy worst case where most anchors pass the threshold),
``TFLite_Detection_PostProcess`` (M = 100), ImageNet classification (1001 logits), DeepLab
segmentation (257x257x21), a 512-d embedding, hand landmarks (21 x 3), regression and raw outputs.
No timing is asserted anywhere: the machine is shared.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_sdk.tasks import TaskSpec, make_decoder

__all__ = ["cases", "measure"]

BLAZEFACE = {"num_layers": 4, "min_scale": 0.1484375, "max_scale": 0.75, "input_size_height": 128,
             "input_size_width": 128, "strides": [8, 16, 16, 16], "aspect_ratios": [1.0], "fixed_anchor_size": True}
SSD_MOBILENET = {"num_layers": 6, "min_scale": 0.2, "max_scale": 0.95, "input_size_height": 300,
                 "input_size_width": 300, "strides": [16, 32, 64, 128, 256, 512],
                 "aspect_ratios": [1.0, 2.0, 0.5, 3.0, 0.3333], "reduce_boxes_in_lowest_layer": True}


def cases(rng: np.random.Generator) -> list[tuple[str, TaskSpec, dict[str, np.ndarray]]]:
    face_logits = np.full((1, 896, 1), -8.0, dtype=np.float32)
    face_logits[0, rng.choice(896, 24, replace=False)] = 3.0  # a few faces, each seen by several anchors
    ssd_logits = rng.normal(-7.0, 1.0, size=(1, 1917, 91)).astype(np.float32)
    ssd_logits[0, rng.choice(1917, 40, replace=False), rng.integers(1, 91, 40)] = 2.0  # about 40 candidates
    noisy_logits = rng.normal(-4.0, 1.5, size=(1, 1917, 91)).astype(np.float32)  # most anchors pass: worst case
    post_scores = np.sort(rng.random((1, 100)).astype(np.float32))[:, ::-1].copy()
    f32 = np.float32
    return [
        ("detect blazeface 896x16", TaskSpec("detect", {"boxes": "regressors", "scores": "classificators"}, ("face",),
                                             {"anchors": BLAZEFACE, "x_scale": 128.0, "y_scale": 128.0,
                                              "w_scale": 128.0, "h_scale": 128.0, "reverse_output_order": True,
                                              "sigmoid_score": True, "score_clipping_thresh": 100.0,
                                              "nms": "weighted", "iou_threshold": 0.3}),
         {"regressors": rng.normal(0, 8, size=(1, 896, 16)).astype(f32), "classificators": face_logits}),
        ("detect ssd 1917x91", TaskSpec("detect", {"boxes": "b", "scores": "s"}, (),
                                        {"anchors": SSD_MOBILENET, "x_scale": 10.0, "y_scale": 10.0, "w_scale": 5.0,
                                         "h_scale": 5.0, "sigmoid_score": True, "ignore_classes": [0],
                                         "class_agnostic": False}),
         {"b": rng.normal(0, 1, size=(1, 1917, 4)).astype(f32), "s": ssd_logits}),
        ("detect ssd 1917x91 noisy", TaskSpec("detect", {"boxes": "b", "scores": "s"}, (),
                                        {"anchors": SSD_MOBILENET, "x_scale": 10.0, "y_scale": 10.0, "w_scale": 5.0,
                                         "h_scale": 5.0, "sigmoid_score": True, "ignore_classes": [0],
                                         "class_agnostic": False}),
         {"b": rng.normal(0, 1, size=(1, 1917, 4)).astype(f32), "s": noisy_logits}),
        ("detect postprocess M=100", TaskSpec("detect", {"boxes": "b", "classes": "c", "scores": "s", "count": "n"}),
         {"b": rng.random((1, 100, 4)).astype(f32), "c": rng.integers(0, 90, (1, 100)).astype(f32), "s": post_scores,
          "n": np.array([100.0], f32)}),
        ("classify 1001 softmax", TaskSpec("classify", {"scores": "logits"}, params={"activation": "softmax"}),
         {"logits": rng.normal(size=(1, 1001)).astype(f32)}),
        ("segment 257x257x21", TaskSpec("segment", {"mask": "m"}), {"m": rng.random((1, 257, 257, 21)).astype(f32)}),
        ("segment 257x257x21 +png", TaskSpec("segment", {"mask": "m"}, params={"png": True}),
         {"m": rng.random((1, 257, 257, 21)).astype(f32)}),
        ("embed 512", TaskSpec("embed", {"embedding": "e"}), {"e": rng.normal(size=(1, 512)).astype(f32)}),
        ("landmarks 21x3", TaskSpec("landmarks", {"landmarks": "l"}, params={"input_width": 224, "input_height": 224}),
         {"l": (rng.random((1, 63)) * 224).astype(f32)}),
        ("regress 2", TaskSpec("regress", {"distance_m": "d", "angle_deg": "a"}),
         {"d": np.array([[1.5]], f32), "a": np.array([[12.0]], f32)}),
        ("raw 2 tensors (one summarised)", TaskSpec("raw", {}),
         {"small": rng.normal(size=(1, 10)).astype(f32), "big": rng.normal(size=(1, 64, 64)).astype(f32)}),
    ]


def measure(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    for _ in range(20):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return {"median_us": round(statistics.median(times), 1), "p95_us": round(times[int(0.95 * (len(times) - 1))], 1)}


def main(argv: list[str]) -> int:
    repeats = int(argv[1]) if len(argv) > 1 else 300
    rows = []
    for name, spec, outputs in cases(np.random.default_rng(0)):
        start = time.perf_counter()
        decoder = make_decoder(spec)
        setup_us = (time.perf_counter() - start) * 1e6
        result = decoder.decode(outputs)
        timing = measure(lambda d=decoder, o=outputs: d.decode(o).to_json(), repeats)  # type: ignore[misc]
        rows.append({"case": name, "kind": spec.kind, **timing, "make_decoder_us": round(setup_us, 1),
                     "json_bytes": len(json.dumps(result.to_json()))})
    print(json.dumps({"repeats": repeats, "cases": rows}, indent=1))
    print(f"{'case':34} {'median us':>10} {'p95 us':>10} {'setup us':>10} {'json B':>8}", file=sys.stderr)
    for row in rows:
        print(f"{row['case']:34} {row['median_us']:>10} {row['p95_us']:>10} {row['make_decoder_us']:>10} "
              f"{row['json_bytes']:>8}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
