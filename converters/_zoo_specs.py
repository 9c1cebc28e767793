"""What each zoo model is: its task, description and task parameters (no TensorFlow needed).

Shared by the builder (:mod:`converters._zoo_worker`, which makes the graphs) and
:mod:`converters.zoo` (which writes ``zoo.json``), so the numbers a decoder is checked against
are the numbers the graph was built with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSIFIER_LABELS = ("cat", "dog", "bird", "fish")
NO_SIGNATURE_LABELS = ("zero", "one", "two", "three", "four")
STATEFUL_LABELS = ("silence", "speech", "music", "noise")
FEATURE_WINDOW = (3, 40)  # frames x mel bins, like an audio feature window
STATE_DECAY = 0.75  # ema <- 0.75 * ema + 0.25 * features, then classify the ema
TEXT_LENGTH = 16
TEXT_VOCABULARY = 100

# Box coder and anchors of the detector. Encodings are tanh-bounded to [-1, 1], so a decoded box
# stays within center +- (1/y_scale + exp(1/h_scale) / 2) * anchor size: for the smallest
# margin (center 0.125, width 0.17) that is 0.125 - 0.121 > 0, so every box lies in [0, 1].
DETECTOR: dict[str, Any] = {
    "labels": ["circle", "square", "triangle"],
    # 128x128 input: two stride-1 convolutions at full size (the compute of a small real detector,
    # ~1.2 ms an invoke), then five stride-2 ones down to a 4x4 grid
    "input_size": 128,
    "grid": 4,
    "anchor_sizes": [[0.15, 0.15], [0.10, 0.17]],  # (height, width) per grid cell, in image fractions
    "max_detections": 10,
    "nms_score_threshold": 0.3,
    "nms_iou_threshold": 0.5,
    "y_scale": 10.0,
    "x_scale": 10.0,
    "h_scale": 5.0,
    "w_scale": 5.0,
}


def detector_anchors() -> np.ndarray:
    """[grid*grid*len(anchor_sizes), 4] anchors (ycenter, xcenter, h, w), the order the heads are reshaped in."""
    grid = DETECTOR["grid"]
    rows = []
    for y in range(grid):
        for x in range(grid):
            for height, width in DETECTOR["anchor_sizes"]:
                rows.append([(y + 0.5) / grid, (x + 0.5) / grid, height, width])
    return np.asarray(rows, dtype=np.float32)


_RGB_UNIT = "float32 RGB in [0, 1] (pixel / 255)"


def model_specs() -> dict[str, dict[str, Any]]:
    """name -> {task, description, task_params}, in build order."""
    anchors = detector_anchors()
    size, grid = DETECTOR["input_size"], DETECTOR["grid"]
    return {
        "detector_postprocess": {
            "task": "detection",
            "description": (
                f"SSD-style small detector, {size}x{size} {_RGB_UNIT} input (a {grid}x{grid} grid, "
                f"{len(DETECTOR['anchor_sizes'])} anchors a cell), ending in the custom op TFLite_Detection_PostProcess "
                "(fast NMS, use_regular_nms=false). Outputs boxes [1,M,4] (ymin, xmin, ymax, xmax; image "
                "fractions), classes [1,M] (label index without background, float), scores [1,M] (sorted, "
                "descending), num_detections [1] (valid rows). Raw encodings (ty, tx, th, tw) decode as "
                "yc = ty / y_scale * ha + ya, xc = tx / x_scale * wa + xa, h = exp(th / h_scale) * ha, "
                "w = exp(tw / w_scale) * wa; class column 0 of the head is background. detections_per_class is "
                "not an attribute the converter writes (nms_utils.cc), so the kernel default applies."
            ),
            "task_params": {
                **{key: DETECTOR[key] for key in DETECTOR if key != "labels"},
                "labels": list(DETECTOR["labels"]),
                "num_classes": len(DETECTOR["labels"]),
                "max_classes_per_detection": 1,
                "use_regular_nms": False,
                "box_order": "ymin,xmin,ymax,xmax",
                "anchor_order": "ycenter,xcenter,h,w",
                "num_anchors": len(anchors),
                "anchors": anchors.round(6).tolist(),
            },
        },
        "segmenter": {
            "task": "segmentation",
            "description": f"Tiny semantic segmenter, {_RGB_UNIT} input; mask is per-pixel softmax probabilities over 3 classes.",
            "task_params": {"labels": ["background", "foreground", "edge"], "output": "probabilities", "activation": "softmax"},
        },
        "embedder": {
            "task": "embedding",
            "description": f"Tiny image embedder, {_RGB_UNIT} input; the 64-d embedding is L2-normalised inside the model.",
            "task_params": {"dim": 64, "l2_normalized": True},
        },
        "stateful_int8": {
            "task": "classification",
            "description": (
                "Streaming audio-style classifier, fully int8 (int8 input, uint8 output, int8 state). The state is a "
                f"resource variable: ema <- {STATE_DECAY} * ema + {1 - STATE_DECAY} * features, then a 2-layer "
                "classifier of ema. Each invoke changes the next output. Interpreter.reset_all_variables() does NOT "
                "reset it (TFLite resets only is_variable tensors, not VAR_HANDLE resources; measured): a fresh "
                "interpreter starts from the zero state."
            ),
            "task_params": {
                "labels": list(STATEFUL_LABELS),
                "feature_window": list(FEATURE_WINDOW),
                "feature_range": [-1.0, 1.0],
                "state": {"kind": "ema", "decay": STATE_DECAY, "initial": 0.0, "shape": [1, *FEATURE_WINDOW]},
                "reset_all_variables_resets_state": False,
            },
        },
        "classifier_with_metadata": {
            "task": "classification",
            "description": (
                "Tiny image classifier on (pixel - 127.5) / 127.5 input, with TFLite metadata the usual way: a "
                "TFLITE_METADATA metadata flatbuffer (M001; normalization, labels.txt as TENSOR_AXIS_LABELS) in the "
                "model and a zip of the associated files (labels.txt) appended after the flatbuffer."
            ),
            "task_params": {"labels": list(CLASSIFIER_LABELS), "normalization": {"mean": [127.5], "std": [127.5]},
                            "associated_files": ["labels.txt"]},
        },
        "no_signature": {
            "task": "classification",
            "description": (
                f"TF1-style graph converted from a session: no SignatureDef, tensors named by the graph "
                f"(image -> probabilities), {_RGB_UNIT} input."
            ),
            "task_params": {"labels": list(NO_SIGNATURE_LABELS)},
        },
        "two_signatures": {
            "task": "embedding",
            "description": (
                "CLIP-style two towers in one model: signature embed_image (image [1,32,32,3] float in [0, 1]) and "
                f"embed_text (token_ids [1,{TEXT_LENGTH}] int32 in [0, {TEXT_VOCABULARY})), each to an L2-normalised "
                "[1,32] embedding in one space."
            ),
            "task_params": {"dim": 32, "l2_normalized": True, "text_length": TEXT_LENGTH, "vocabulary": TEXT_VOCABULARY},
        },
    }
