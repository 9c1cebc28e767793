"""Input sources of the device runtime: frames, text and sensor readings, and their alignment.

Importing this package does no I/O and pulls neither OpenCV nor Picamera2; they load when a source
that needs them is opened. Timestamps are on :func:`edge_sdk.clock.now_s`.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "FrameSource": "edge_sdk.sources.base",
    "SourceState": "edge_sdk.sources.base",
    "SourceStats": "edge_sdk.sources.base",
    "AlignConfig": "edge_sdk.sources.config",
    "CameraConfig": "edge_sdk.sources.config",
    "PlaybackMode": "edge_sdk.sources.config",
    "SensorConfig": "edge_sdk.sources.config",
    "TextConfig": "edge_sdk.sources.config",
    "SCHEMES": "edge_sdk.sources.factory",
    "open_frame_source": "edge_sdk.sources.factory",
    "split_spec": "edge_sdk.sources.factory",
    "ColorOrder": "edge_sdk.sources.frame",
    "Frame": "edge_sdk.sources.frame",
    "SensorSlot": "edge_sdk.sources.sensor",
    "open_sensor_source": "edge_sdk.sources.sensor",
    "parse_sensor_record": "edge_sdk.sources.sensor",
    "TextSlot": "edge_sdk.sources.text",
    "open_text_source": "edge_sdk.sources.text",
}

__all__ = [
    "SCHEMES",
    "AlignConfig",
    "CameraConfig",
    "ColorOrder",
    "Frame",
    "FrameSource",
    "PlaybackMode",
    "SensorConfig",
    "SensorSlot",
    "SourceState",
    "SourceStats",
    "TextConfig",
    "TextSlot",
    "open_frame_source",
    "open_sensor_source",
    "open_text_source",
    "parse_sensor_record",
    "split_spec",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
