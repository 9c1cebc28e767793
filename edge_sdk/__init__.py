"""edge_sdk: run multimodal fusion models on a Raspberry Pi-class device.

    from edge_sdk import FusionModel, Pipeline, open_frame_source, TextSlot, JSONLinesSink

    with FusionModel.from_bundle("seek_int8.tflite") as model:
        label = model.predict(image=frame, text="find the red circle", sensor={"distance_cm": 80}).label

Importing this package does no I/O and loads no heavy module: OpenCV, paho-mqtt, pyserial and the
TFLite interpreter load when something that needs them is used. TensorFlow is never imported.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

# Names load on first use (PEP 562): ``python -m edge_sdk.sinks.mqtt.delivery_child`` and the CLI start without
# importing numpy, the bundle reader and the pipeline they do not need.
_EXPORTS = {
    "Bundle": "edge_sdk.bundle",
    "Manifest": "edge_sdk.bundle",
    "read_bundle": "edge_sdk.bundle",
    "write_bundle": "edge_sdk.bundle",
    "DeviceConfig": "edge_sdk.config",
    "load_config": "edge_sdk.config",
    "parse_config": "edge_sdk.config",
    "BackendError": "edge_sdk.errors",
    "BundleError": "edge_sdk.errors",
    "ConfigError": "edge_sdk.errors",
    "EdgeSDKError": "edge_sdk.errors",
    "InputError": "edge_sdk.errors",
    "MissingDependencyError": "edge_sdk.errors",
    "MissingOpError": "edge_sdk.errors",
    "ModelFormatError": "edge_sdk.errors",
    "PipelineError": "edge_sdk.errors",
    "PublishError": "edge_sdk.errors",
    "SourceError": "edge_sdk.errors",
    "FusionModel": "edge_sdk.model",
    "Model": "edge_sdk.model",
    "Prediction": "edge_sdk.model",
    "EmbeddedBroker": "edge_sdk.sinks.mqtt",
    "JSONLinesSink": "edge_sdk.sinks",
    "MQTTConfig": "edge_sdk.sinks.mqtt",
    "MQTTPublisher": "edge_sdk.sinks.mqtt",
    "Pipeline": "edge_sdk.pipeline",
    "PipelineConfig": "edge_sdk.pipeline",
    "Result": "edge_sdk.pipeline",
    "Runtime": "edge_sdk.runtime",
    "default_bundle_path": "edge_sdk.runtime",
    "AlignConfig": "edge_sdk.sources",
    "CameraConfig": "edge_sdk.sources",
    "Frame": "edge_sdk.sources",
    "SensorConfig": "edge_sdk.sources",
    "SensorSlot": "edge_sdk.sources",
    "TextConfig": "edge_sdk.sources",
    "TextSlot": "edge_sdk.sources",
    "open_frame_source": "edge_sdk.sources",
    "open_sensor_source": "edge_sdk.sources",
    "open_text_source": "edge_sdk.sources",
}

__version__ = "0.1.0"

__all__ = [
    "AlignConfig",
    "BackendError",
    "Bundle",
    "BundleError",
    "CameraConfig",
    "ConfigError",
    "DeviceConfig",
    "EdgeSDKError",
    "EmbeddedBroker",
    "Frame",
    "FusionModel",
    "InputError",
    "JSONLinesSink",
    "MQTTConfig",
    "MQTTPublisher",
    "Manifest",
    "MissingDependencyError",
    "MissingOpError",
    "Model",
    "ModelFormatError",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "Prediction",
    "PublishError",
    "Result",
    "Runtime",
    "SensorConfig",
    "SensorSlot",
    "SourceError",
    "TextConfig",
    "TextSlot",
    "__version__",
    "default_bundle_path",
    "load_config",
    "open_frame_source",
    "open_sensor_source",
    "open_text_source",
    "parse_config",
    "read_bundle",
    "write_bundle",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
