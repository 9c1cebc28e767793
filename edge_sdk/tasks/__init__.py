"""Tasks: a model's output tensors turned into typed results (classify, detect, segment, embed, ...).

    spec = TaskSpec(kind="classify", outputs={"scores": "probs"}, labels=("cat", "dog"))
    decoder = make_decoder(spec)
    result = decoder.decode({"probs": probs})      # a Classification
    payload.update(result_payload_fields(result))  # {"task": "classify", "result": {...}}

One module per kind (``edge_sdk.tasks.classify``, ``.detect``, ``.segment``, ``.embed``,
``.landmarks``, ``.regress``, ``.raw``, ``.generate``), each with its options dataclass and result type. Pure
numpy; OpenCV loads only to PNG-encode a segmentation mask. Importing this package loads nothing.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "KINDS": "edge_sdk.tasks.base",
    "Decoder": "edge_sdk.tasks.base",
    "PointTransform": "edge_sdk.tasks.base",
    "TaskKind": "edge_sdk.tasks.base",
    "TaskResult": "edge_sdk.tasks.base",
    "TaskSpec": "edge_sdk.tasks.base",
    "make_decoder": "edge_sdk.tasks.base",
    "result_payload_fields": "edge_sdk.tasks.base",
    "SsdAnchorOptions": "edge_sdk.tasks.anchors",
    "generate_ssd_anchors": "edge_sdk.tasks.anchors",
    "Classification": "edge_sdk.tasks.classify",
    "ClassifyOptions": "edge_sdk.tasks.classify",
    "DetectOptions": "edge_sdk.tasks.detect",
    "Detection": "edge_sdk.tasks.detect",
    "Detections": "edge_sdk.tasks.detect",
    "EmbedOptions": "edge_sdk.tasks.embed",
    "Embedding": "edge_sdk.tasks.embed",
    "GenerateOptions": "edge_sdk.tasks.generate",
    "Generation": "edge_sdk.tasks.generate",
    "Hypothesis": "edge_sdk.tasks.generate",
    "StepFn": "edge_sdk.tasks.generate",
    "beam_search": "edge_sdk.tasks.generate",
    "greedy_search": "edge_sdk.tasks.generate",
    "LandmarkOptions": "edge_sdk.tasks.landmarks",
    "Landmarks": "edge_sdk.tasks.landmarks",
    "RawOptions": "edge_sdk.tasks.raw",
    "RawOutputs": "edge_sdk.tasks.raw",
    "RawTensor": "edge_sdk.tasks.raw",
    "RegressOptions": "edge_sdk.tasks.regress",
    "Regression": "edge_sdk.tasks.regress",
    "SegmentOptions": "edge_sdk.tasks.segment",
    "Segmentation": "edge_sdk.tasks.segment",
    "suppress": "edge_sdk.tasks.nms",
}

__all__ = [
    "KINDS",
    "Classification",
    "ClassifyOptions",
    "Decoder",
    "DetectOptions",
    "Detection",
    "Detections",
    "EmbedOptions",
    "Embedding",
    "GenerateOptions",
    "Generation",
    "Hypothesis",
    "LandmarkOptions",
    "Landmarks",
    "PointTransform",
    "RawOptions",
    "RawOutputs",
    "RawTensor",
    "RegressOptions",
    "Regression",
    "SegmentOptions",
    "Segmentation",
    "SsdAnchorOptions",
    "StepFn",
    "TaskKind",
    "TaskResult",
    "TaskSpec",
    "beam_search",
    "generate_ssd_anchors",
    "greedy_search",
    "make_decoder",
    "result_payload_fields",
    "suppress",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
