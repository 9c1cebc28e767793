"""The device config: one YAML (or JSON) file for ``edge-sdk run``.

::

    device: pi-kitchen
    model: {path: /opt/edge_sdk/seek_int8.tflite, num_threads: 2}
    camera: {source: camera://0}          # required: there is no default camera
    text: {source: mqtt, max_age_s: 600}
    sensor: {source: bridge, max_age_s: 0.5}
    bridge: {url: /dev/serial/by-id/usb-Arduino_Uno-if00}
    actions: {rules: [{label: left, commands: {motor_left: -300, motor_right: 300}}]}
    pipeline: {publish: change}
    mqtt: {host: broker.lan, username: pi-kitchen, password: "${MQTT_PASSWORD}"}

Every section is a frozen dataclass owned by its component; unknown keys are rejected with the valid
ones listed, and errors found in a file carry its line number. With no ``mqtt`` section the runtime
starts an embedded broker on localhost (``embedded_broker``) so any MQTT client can subscribe.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk import configtools
from edge_sdk._lazy import require
from edge_sdk.describe.config import DescribeConfig
from edge_sdk.errors import ConfigError
from edge_sdk.index.config import IndexConfig
from edge_sdk.pipeline.config import PipelineConfig
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sources.config import AlignConfig, CameraConfig, SensorConfig, TextConfig
from edge_sdk.update.config import UpdateConfig
from firmware_bridge.config import ActionsConfig, BridgeConfig

__all__ = [
    "BridgeSection",
    "DeviceConfig",
    "EmbeddedBrokerConfig",
    "ModelConfig",
    "SinkConfig",
    "load_config",
    "parse_config",
    "read_config_file",
]

@dataclass(frozen=True)
class ModelConfig:
    path: str = field(default="", metadata={
        "help": "bundle file, or the name of one shipped with edge_sdk (seek: the demo's int8 model); empty: seek"})
    num_threads: int = field(
        default=1,
        metadata={"help": "interpreter threads; small fusion models invoke fastest on one, leaving a core for I/O"},
    )
    runtime: str | None = field(
        default=None, metadata={"help": "ai_edge_litert, tflite_runtime or tensorflow; null: the first that imports"}
    )
    verify_golden: bool = field(default=True, metadata={"help": "re-run the bundle's golden vectors at load"})
    signature: str | None = field(default=None, metadata={
        "help": "the bundle signature to serve (e.g. embed_image of an image/text embedder); null: its first"})
    xnnpack: bool | None = field(default=None, metadata={
        "help": "the XNNPACK delegate on or off; null: the interpreter's default (ai-edge-litert: on). Off gives "
                "the reference kernels' exact int8 results, on is faster"})


@dataclass(frozen=True)
class EmbeddedBrokerConfig:
    enabled: bool = field(default=True, metadata={"help": "start a local broker when no mqtt section is given"})
    port: int = field(default=1883, metadata={"help": "MQTT TCP port on 127.0.0.1; 0 picks a free one"})
    ws_port: int | None = field(default=9001, metadata={"help": "MQTT-over-WebSockets port; null: none"})


@dataclass(frozen=True)
class SinkConfig:
    stdout_jsonl: bool = field(default=False, metadata={"help": "also write every published result as a JSON line"})
    snapshot_hz: float = field(
        default=2.0, metadata={"help": "frame thumbnails per second on <device>/snapshot for the dashboard; 0: off"}
    )
    snapshot_width_px: int = field(default=160, metadata={"help": "thumbnail width"})


@dataclass(frozen=True)
class BridgeSection:
    """The ``bridge`` section: the port, and the link's options beside it in the same mapping."""

    url: str = field(metadata={"help": "serial URL: /dev/ttyACM0, /dev/serial/by-id/..., socket://host:port, loop://"})
    link: BridgeConfig = field(default_factory=BridgeConfig)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = "bridge") -> BridgeSection:
        """``{url: ..., baudrate: ...}``: flat in the file, as users write it, typed here."""
        options = dict(data) if isinstance(data, Mapping) else data
        url = options.pop("url", None) if isinstance(options, dict) else None
        valid = {"url", *(f.name for f in dataclasses.fields(BridgeConfig))}
        unknown = sorted(set(options) - valid) if isinstance(options, dict) else []
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key. Valid keys for {where}: {', '.join(sorted(valid))}")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{where}.url: expected a serial URL such as /dev/ttyACM0 or loop://. Got: {url!r}")
        return cls(url=configtools.expand_env(url, f"{where}.url"), link=configtools.build(BridgeConfig, options, where))


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    device: str = field(default="edge-device", metadata={"help": "device id in topics, payloads and client ids"})
    model: ModelConfig = field(default_factory=ModelConfig)
    camera: CameraConfig = field(metadata={
        "help": "where frames come from: required, there is no default camera (the synthetic world is `edge-sdk demo`)",
        "example": "camera: {source: camera://0} (or file://clip.mp4, images://folder, rtsp://...)"})
    text: TextConfig = field(default_factory=TextConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    mqtt: MQTTConfig | None = field(default=None, metadata={"help": "broker to publish to; null: embedded broker"})
    embedded_broker: EmbeddedBrokerConfig = field(default_factory=EmbeddedBrokerConfig)
    output: SinkConfig = field(default_factory=SinkConfig)
    bridge: BridgeSection | None = field(
        default=None, metadata={"help": "serial link to a microcontroller: url plus the options below; null: none"}
    )
    actions: ActionsConfig | None = field(
        default=None, metadata={"help": "rules from results to actuator commands, sent over the bridge; null: none"}
    )
    index: IndexConfig | None = field(default=None, metadata={
        "help": "a rolling index of embedded frames for text search (edge-sdk search, cmd/search); null: none",
        "example": "index: {path: /var/lib/edge_sdk/index, max_rate_hz: 1, max_frames: 20000}"})
    describe: DescribeConfig | None = field(default=None, metadata={
        "help": "when a generate bundle (model.path: a captioner or translator) describes frames, published on "
                "<device>/caption or <device>/translation: every_s, on_change, min_interval_s, beam_size, "
                "max_length, topic (edge_sdk/describe/config.py); null: every 5 s, the bundle's beam",
        "example": "describe: {every_s: 5, on_change: 0.05, beam_size: 3}"})
    update: UpdateConfig | None = field(default=None, metadata={
        "help": "signed over-the-air model updates on <device>/cmd/model (docs/updates.md); null: none"})


def parse_config(data: Mapping[str, Any] | None, source_text: str | None = None, where: str = "config") -> DeviceConfig:
    """Build a :class:`DeviceConfig`; with ``source_text`` (YAML), errors carry line numbers."""
    data = dict(data or {})
    mqtt = data.get("mqtt")
    if isinstance(mqtt, Mapping) and "device_id" not in mqtt:
        data["mqtt"] = {**mqtt, "device_id": data.get("device", "edge-device")}
    try:
        config = configtools.build(DeviceConfig, data)
    except ConfigError as exc:
        raise ConfigError(_with_line(str(exc), source_text, where)) from exc
    if config.sensor.source == "bridge" and config.bridge is None:
        raise ConfigError(_with_line("sensor.source: 'bridge' needs a bridge section with a url", source_text, where))
    if config.actions is not None and config.bridge is None:
        raise ConfigError(_with_line("actions: need a bridge section to send commands over", source_text, where))
    return config


def load_config(path: str | Path) -> DeviceConfig:
    """Read a YAML or JSON device config; errors name the file and line."""
    data, source_text = read_config_file(path)
    return parse_config(data, source_text, str(path))


def read_config_file(path: str | Path) -> tuple[dict[str, Any], str | None]:
    """The raw mapping of a YAML or JSON config, and the YAML text (for line numbers; None for JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"device config not found: {path}. Expected a YAML or JSON file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        source_text = None
    else:
        yaml = require("yaml", "reading YAML configs")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
        source_text = text
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of sections at the top. Got: {type(data).__name__}")
    return dict(data), source_text


def _with_line(message: str, source_text: str | None, where: str) -> str:
    """Prefix ``file:line:`` for the key path a message starts with (``mqtt.tls.ca_file: ...``)."""
    if source_text is None:
        return f"{where}: {message}"
    match = re.match(r"([A-Za-z_][\w.\[\]]*):", message)
    line = _line_of(source_text, match.group(1)) if match else None
    return f"{where}:{line}: {message}" if line else f"{where}: {message}"


def _line_of(source_text: str, dotted: str) -> int | None:
    """Line (1-based) of a dotted key path in YAML text, using the composed node tree."""
    try:
        yaml = require("yaml", "reading YAML configs")
        node = yaml.compose(source_text)
    except Exception:  # noqa: BLE001 - a line number is a nicety; the message stands without it
        return None
    line = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if node is None:
            break
        if part.startswith("[") and getattr(node, "id", "") == "sequence":
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
            line = node.start_mark.line + 1 if node is not None else line
            continue
        if getattr(node, "id", "") != "mapping":
            break
        for key, value in node.value:
            if key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line
