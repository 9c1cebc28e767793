"""The inference pipeline: threads at I/O boundaries, one worker owning the interpreter."""

from edge_sdk.pipeline.config import PipelineConfig
from edge_sdk.pipeline.pipeline import Pipeline, ResultSink
from edge_sdk.pipeline.result import Result

__all__ = ["Pipeline", "PipelineConfig", "Result", "ResultSink"]
