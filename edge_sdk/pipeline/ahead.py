"""Image inputs made ahead, on the capture thread, so that the worker only invokes and decodes.

The capture thread reads frame N+1 while the worker invokes frame N. With ``pipeline.prepare_ahead``
it also makes frame N+1's image tensor (resize, colour order, normalisation, quantization:
:meth:`~edge_sdk.model.FusionModel.prepare_image`, the one preprocessing code path), mostly inside
OpenCV calls that release the interpreter lock, so on two cores the preprocessing overlaps the
previous invoke instead of following it. The worker then takes the tensor as it is: the same bytes
its own ``prepare`` would make. A frame prepared by a model that an update swapped out meanwhile is
prepared again on the worker. A realtime source that drops a frame after it was prepared wasted one
preprocess: bounded by the camera's frame rate, a few percent of a core.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from edge_sdk._cpus import usable_cpus
from edge_sdk.errors import InputError
from edge_sdk.model import FusionModel
from edge_sdk.sources.frame import Frame

if TYPE_CHECKING:
    import numpy as np

    from edge_sdk.pipeline.align import AlignedInputs
    from edge_sdk.pipeline.config import PipelineConfig
    from edge_sdk.pipeline.swap import ModelSwap

__all__ = ["PrepareAhead", "prepare_ahead_enabled", "prepare_inputs"]

def prepare_ahead_enabled(config: PipelineConfig) -> bool:
    """``pipeline.prepare_ahead``; null: on where two CPUs can overlap the capture thread and the worker."""
    if config.prepare_ahead is not None:
        return config.prepare_ahead
    return usable_cpus() >= 2


class PrepareAhead:
    """The capture thread's step: the serving model's image input, attached to the frame.

    A source that can make it where it decodes (a capture process: ``prepare_with``) is told the
    serving model at the start and after each swap; its frames come with the input made, and only
    those it could not make (a bad frame, a frame of a model swapped out meanwhile) are made here."""

    def __init__(self, models: ModelSwap, source: object = None) -> None:
        self._models = models
        self.failed = 0  # frames left for the worker to prepare (and to report) because this raised
        self._prepare_with = getattr(source, "prepare_with", None)
        self._told: FusionModel | None = None
        if self._prepare_with is not None:
            self._tell(models.current)

    def _tell(self, model: FusionModel) -> None:
        assert self._prepare_with is not None
        self._told = model
        self._prepare_with(model if _prepares_its_image(model) else None)

    def __call__(self, frame: Frame) -> Frame:
        model = self._models.current
        if self._prepare_with is not None and model is not self._told:
            self._tell(model)
        if not _prepares_its_image(model) or (frame.prepared is not None and frame.prepared.model is model):
            return frame
        try:
            prepared = model.prepare_image(frame.pixels, frame.color_order)
        except InputError:  # a bad frame: the worker prepares it again and reports it as it always did
            self.failed += 1
            return frame
        return dataclasses.replace(frame, prepared=prepared)


def _prepares_its_image(model: FusionModel) -> bool:
    # a model that prepares its own way (a generate bundle's encoder runs inside its search) is left alone
    return type(model).prepare is FusionModel.prepare and model.image_tensor_maker is not None


def prepare_inputs(model: FusionModel, frame: Frame, inputs: AlignedInputs) -> tuple[dict[str, np.ndarray], float]:
    """The worker's tensors for ``frame``, and how long its image input took on the capture thread (0:
    made here). A frame prepared by another model (swapped out since) is prepared again."""
    prepared = frame.prepared
    if prepared is not None and prepared.model is model:
        return model.prepare(None, inputs.text, inputs.sensor, frame.color_order, prepared=prepared), prepared.ms
    return model.prepare(frame.pixels, inputs.text, inputs.sensor, frame.color_order), 0.0
