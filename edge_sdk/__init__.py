"""edge_sdk: run multimodal fusion models on a Raspberry Pi-class device.

    from edge_sdk import FusionModel, Pipeline, open_frame_source, TextSlot, JSONLinesSink

    with FusionModel.from_bundle("seek_int8.tflite") as model:
        label = model.predict(image=frame, text="find the red circle", sensor={"distance_cm": 80}).label

Importing this package does no I/O and loads no heavy module: OpenCV, paho-mqtt, pyserial and the
TFLite interpreter load when something that needs them is used. TensorFlow is never imported.
"""

from edge_sdk.bundle import Bundle, Manifest, read_bundle, write_bundle
from edge_sdk.config import DeviceConfig, load_config, parse_config
from edge_sdk.errors import (
    BackendError,
    BundleError,
    ConfigError,
    EdgeSDKError,
    InputError,
    MissingDependencyError,
    PipelineError,
    PublishError,
    SourceError,
)
from edge_sdk.model import FusionModel, Prediction
from edge_sdk.mqtt import EmbeddedBroker, JSONLinesSink, MQTTConfig, MQTTPublisher
from edge_sdk.pipeline import Pipeline, PipelineConfig, Result
from edge_sdk.runtime import Runtime, default_bundle_path
from edge_sdk.sources import (
    AlignConfig,
    CameraConfig,
    Frame,
    SensorConfig,
    SensorSlot,
    TextConfig,
    TextSlot,
    open_frame_source,
    open_sensor_source,
    open_text_source,
)

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
