"""The inference pipeline: threads at I/O boundaries, one worker owning the interpreter."""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "AlignedInputs": "edge_sdk.pipeline.align",
    "Aligner": "edge_sdk.pipeline.align",
    "CaptureThread": "edge_sdk.pipeline.capture",
    "LatestValue": "edge_sdk.pipeline.readings",
    "BlockingSlot": "edge_sdk.pipeline.slot",
    "DropPolicy": "edge_sdk.pipeline.slot",
    "LatestSlot": "edge_sdk.pipeline.slot",
    "make_slot": "edge_sdk.pipeline.slot",
    "PipelineConfig": "edge_sdk.pipeline.config",
    "Pipeline": "edge_sdk.pipeline.pipeline",
    "ResultSink": "edge_sdk.sinks.base",
    "Result": "edge_sdk.pipeline.result",
}

__all__ = [
    "AlignedInputs",
    "Aligner",
    "BlockingSlot",
    "CaptureThread",
    "DropPolicy",
    "LatestSlot",
    "LatestValue",
    "Pipeline",
    "PipelineConfig",
    "Result",
    "ResultSink",
    "make_slot",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
