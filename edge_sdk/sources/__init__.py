"""Input sources of the device runtime: frames, text and sensor readings, and their alignment.

Importing this package does no I/O and pulls neither OpenCV nor Picamera2; they load when a source
that needs them is opened. Timestamps are on :func:`edge_sdk.clock.now_s`.
"""

from edge_sdk.sources.align import AlignedInputs, Aligner
from edge_sdk.sources.base import FrameSource, SourceState, SourceStats
from edge_sdk.sources.capture import CaptureThread
from edge_sdk.sources.config import (
    AlignConfig,
    CameraConfig,
    PlaybackMode,
    SensorConfig,
    TextConfig,
)
from edge_sdk.sources.factory import SCHEMES, open_frame_source, split_spec
from edge_sdk.sources.frame import ColorOrder, Frame
from edge_sdk.sources.readings import LatestReading
from edge_sdk.sources.sensor import SensorSlot, open_sensor_source, parse_sensor_record
from edge_sdk.sources.slot import BlockingSlot, DropPolicy, LatestSlot, make_slot
from edge_sdk.sources.text import TextSlot, open_text_source

__all__ = [
    "SCHEMES",
    "AlignConfig",
    "AlignedInputs",
    "Aligner",
    "BlockingSlot",
    "CameraConfig",
    "CaptureThread",
    "ColorOrder",
    "DropPolicy",
    "Frame",
    "FrameSource",
    "LatestReading",
    "LatestSlot",
    "PlaybackMode",
    "SensorConfig",
    "SensorSlot",
    "SourceState",
    "SourceStats",
    "TextConfig",
    "TextSlot",
    "make_slot",
    "open_frame_source",
    "open_sensor_source",
    "open_text_source",
    "parse_sensor_record",
    "split_spec",
]
