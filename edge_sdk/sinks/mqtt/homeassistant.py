"""Home Assistant MQTT discovery: the device, its entities and its microcontroller appear by themselves.

Home Assistant reads retained JSON configs under
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` and then subscribes to the state
topics they name. Nothing here is specific to a Home Assistant version beyond its documented
discovery keys (``name``, ``unique_id``, ``state_topic``, ``value_template``, ``availability``,
``device``, ``origin``...). The entities:

=====================  ===============  ======================================  ===================
object id              component        state from                              unit / class
=====================  ===============  ======================================  ===================
``decision``           sensor           ``<device>/result`` ``label``           (text)
``confidence``         sensor           ``<device>/result`` ``confidence``      % / measurement
``fps``                sensor           ``<device>/stats`` ``fps``              fps / measurement
``inference_time``     sensor           ``<device>/stats`` invoke p50           ms / duration
``online``             binary_sensor    ``<device>/available``                  connectivity
``mcu_<channel>``      sensor (MCU)     ``<device>/result`` ``inputs.sensor``   from the name's unit
``mcu_motor_state``    sensor (MCU)     ``<device>/stats`` ``actions``          (text)
``mcu_link``           sensor (MCU)     ``<device>/stats`` ``bridge.state``     (text, diagnostic)
=====================  ===============  ======================================  ===================

Every entity but ``online`` is unavailable while ``<device>/available`` is not ``online``: the
availability template maps ``offline`` (last will) and ``stopped`` (clean exit) alike. The MCU is
its own Home Assistant device, connected ``via_device`` the edge device. Home Assistant says
``online`` on ``<discovery_prefix>/status`` when it starts; the publisher then announces again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_sdk.sinks.mqtt.config import HomeAssistantConfig
from edge_sdk.sinks.mqtt.topics import Topics

__all__ = ["HomeAssistantDiscovery", "HostInfo", "McuInfo", "TaskInfo"]

logger = logging.getLogger(__name__)

_NOT_NODE_ID = re.compile(r"[^A-Za-z0-9_-]")
_CHANNEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ORIGIN_NAME = "edge_sdk"
_PRESENT = "{{ 'online' if value == 'online' else 'offline' }}"
# A channel name ends with its unit (distance_cm); Home Assistant wants the unit and a device class.
_CHANNEL_UNITS: dict[str, tuple[str, str | None]] = {
    "mm": ("mm", "distance"),
    "cm": ("cm", "distance"),
    "m": ("m", "distance"),
    "c": ("°C", "temperature"),
    "pct": ("%", None),
    "percent": ("%", None),
    "v": ("V", "voltage"),
    "lux": ("lx", "illuminance"),
}


def _version() -> str:
    from edge_sdk import __version__

    return __version__


@dataclass(frozen=True)
class HostInfo:
    """The edge device as Home Assistant shows it."""

    model: str = "edge_sdk runtime"
    manufacturer: str = "edge_sdk"
    sw_version: str = field(default_factory=_version)


@dataclass(frozen=True)
class TaskInfo:
    """What the served model's results hold, so Home Assistant gets entities that fit them.

    ``classify`` (and an unknown task): the decision and its confidence; ``detect``: how many
    objects, and how many of each label.
    """

    kind: str = "classify"
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class McuInfo:
    """The microcontroller behind the firmware bridge, shown as a device of its own.

    ``channels`` are the sensor channel names as they appear in results' ``inputs.sensor`` (units in
    the names: ``distance_cm``); ``actuators`` non-empty adds a motor state entity.
    """

    name: str
    firmware_version: str = ""
    model: str = ""
    manufacturer: str = ""
    channels: tuple[str, ...] = ()
    actuators: tuple[str, ...] = ()

    @classmethod
    def from_hello(cls, hello: Any, *, model: str = "", manufacturer: str = "") -> McuInfo:
        """From a firmware bridge ``Hello`` (``name``, ``firmware_version``, ``channels``, ``actuators``)."""
        version = ".".join(str(part) for part in getattr(hello, "firmware_version", ()))
        return cls(
            name=hello.name,
            firmware_version=version,
            model=model,
            manufacturer=manufacturer,
            channels=tuple(channel.name for channel in getattr(hello, "channels", ())),
            actuators=tuple(actuator.name for actuator in getattr(hello, "actuators", ())),
        )


def _guarded(path: Sequence[str], *, mapping_parent: bool = False) -> str:
    """A template reading ``value_json.<path>`` that renders ``None`` (unknown) when it is missing."""
    checks = []
    for depth in range(1, len(path) + 1):
        ref = "value_json." + ".".join(path[:depth])
        test = "is mapping" if mapping_parent and depth == len(path) - 1 else "is defined"
        checks.append(f"{ref} {test}")
    value, condition = "value_json." + ".".join(path), " and ".join(checks)
    return "{{ " + f"{value} if {condition} else none" + " }}"


# The classifier's fields: under ``result`` in edge_sdk.result/2, at the top in /1 (older devices)
_CLASSIFIED = "{% set r = value_json.result if value_json.result is defined else value_json %}"


class HomeAssistantDiscovery:
    """Builds the retained discovery configs for one device (and its MCU, when there is one)."""

    def __init__(
        self,
        config: HomeAssistantConfig,
        topics: Topics,
        *,
        result_topic: str | None = None,
        host: HostInfo | None = None,
        mcu: McuInfo | None = None,
        task: TaskInfo | None = None,
    ) -> None:
        self.config = config
        self.task = task or TaskInfo()
        self.topics = topics
        self.node_id = config.node_id or _NOT_NODE_ID.sub("_", topics.device_id)
        self.result_topic = result_topic or topics.result
        self.host = host or HostInfo()
        self.mcu = mcu
        self._announced_topics: set[str] = set()  # configs announce() published

    @property
    def status_topic(self) -> str:
        """Where Home Assistant says ``online`` when it (re)starts."""
        return f"{self.config.discovery_prefix}/status"

    def config_topic(self, component: str, object_id: str) -> str:
        return f"{self.config.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    def configs(self) -> dict[str, dict[str, Any]]:
        """Discovery topic -> config, for the device and (when known) its MCU."""
        return {self.config_topic(component, object_id): body for component, object_id, body in self._entities()}

    def messages(self) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` pairs to publish retained at QoS 1."""
        return [(topic, json.dumps(body, separators=(",", ":")).encode()) for topic, body in self.configs().items()]

    def announce(self, publish: Callable[[str, bytes], object]) -> None:
        """Publish every config with ``publish(topic, payload)`` (retained, QoS 1), and an empty one for
        each entity announced before that no longer fits (the task is known now, the MCU is gone):
        that is how Home Assistant deletes an entity."""
        messages = self.messages()
        for topic, payload in messages:
            publish(topic, payload)
        for topic in sorted(self._announced_topics - {topic for topic, _ in messages}):
            publish(topic, b"")
        self._announced_topics = {topic for topic, _ in messages}

    def is_restart(self, topic: str, payload: bytes) -> bool:
        """True for Home Assistant's birth message: announce again."""
        return topic == self.status_topic and payload.strip() == b"online"

    # -- the entities ----------------------------------------------------------------------------

    @property
    def _device_identifier(self) -> str:
        return f"edge_sdk_{self.node_id}"

    def _device(self) -> dict[str, Any]:
        return {
            "identifiers": [self._device_identifier],
            "name": self.config.name or self.topics.device_id,
            "model": self.host.model,
            "manufacturer": self.host.manufacturer,
            "sw_version": self.host.sw_version,
        }

    def _mcu_device(self, mcu: McuInfo) -> dict[str, Any]:
        device: dict[str, Any] = {
            "identifiers": [f"{self._device_identifier}_mcu"],
            "name": mcu.name,
            "model": mcu.model or mcu.name,
            "via_device": self._device_identifier,
        }
        if mcu.manufacturer:
            device["manufacturer"] = mcu.manufacturer
        if mcu.firmware_version:
            device["sw_version"] = mcu.firmware_version
        return device

    def _entity(self, object_id: str, name: str, device: dict[str, Any], **keys: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "unique_id": f"{self._device_identifier}_{object_id}",
            **keys,
            "device": device,
            "origin": {"name": _ORIGIN_NAME, "sw_version": self.host.sw_version},
        }
        if "availability" not in body:
            body["availability"] = [{
                "topic": self.topics.available,
                "value_template": _PRESENT,
                "payload_available": "online",
                "payload_not_available": "offline",
            }]
        elif body["availability"] is None:
            del body["availability"]
        return body

    def _result_keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = {"state_topic": self.result_topic}
        if self.config.expire_after_s:
            keys["expire_after"] = self.config.expire_after_s
        return keys

    def _entities(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        device, topics = self._device(), self.topics
        if self.task.kind == "detect":
            yield from self._detect_entities(device)
        elif self.task.kind == "classify":
            yield from self._classify_entities(device)
        yield from self._device_entities(device, topics)

    def _detect_entities(self, device: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        detections = "value_json.result.detections"
        guard = "value_json.task is defined and value_json.task == 'detect'"
        yield "sensor", "objects", self._entity(
            "objects", "Objects", device, **self._result_keys(),
            value_template="{{ " + f"{detections} | length if {guard} else none" + " }}",
            unit_of_measurement="objects", state_class="measurement", icon="mdi:bounding-box",
        )
        for label in self.task.labels:
            object_id = "objects_" + _NOT_NODE_ID.sub("_", label)
            yield "sensor", object_id, self._entity(
                object_id, f"Objects: {label}", device, **self._result_keys(),
                value_template="{{ " + f"{detections} | selectattr('label', 'eq', {label!r}) | list | length "
                               f"if {guard} else none" + " }}",
                unit_of_measurement="objects", state_class="measurement", icon="mdi:bounding-box",
            )

    def _classify_entities(self, device: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        yield "sensor", "decision", self._entity(
            "decision", "Decision", device, **self._result_keys(),
            value_template=_CLASSIFIED + "{{ r.label if r.label is defined else none }}",
            json_attributes_topic=self.result_topic,
            json_attributes_template=_CLASSIFIED + (
                "{{ {'scores': r.scores | default(none), 'seq': value_json.seq, 'boot': value_json.boot, "
                "'text': value_json.inputs.text | default(none)} | tojson }}"
            ),
            icon="mdi:target",
        )
        yield "sensor", "confidence", self._entity(
            "confidence", "Confidence", device, **self._result_keys(),
            value_template=_CLASSIFIED + (
                "{{ (r.confidence * 100) | round(1) if r.confidence is defined and r.confidence is not none "
                "else none }}"
            ),
            unit_of_measurement="%", state_class="measurement", icon="mdi:gauge",
        )

    def _device_entities(self, device: dict[str, Any], topics: Topics) -> Iterator[tuple[str, str, dict[str, Any]]]:
        yield "sensor", "fps", self._entity(
            "fps", "Results per second", device, state_topic=topics.stats,
            value_template=_guarded(["fps"]),
            unit_of_measurement="fps", state_class="measurement", icon="mdi:speedometer",
        )
        yield "sensor", "inference_time", self._entity(
            "inference_time", "Inference time", device, state_topic=topics.stats,
            value_template=_guarded(["stages", "invoke", "p50_ms"]),
            unit_of_measurement="ms", device_class="duration", state_class="measurement",
        )
        yield "binary_sensor", "online", self._entity(
            "online", "Online", device, state_topic=topics.available,
            value_template="{{ 'ON' if value == 'online' else 'OFF' }}",
            payload_on="ON", payload_off="OFF",
            device_class="connectivity", entity_category="diagnostic",
            availability=None,  # this entity *is* the availability: off, not unavailable, when offline
        )
        if self.mcu is not None:
            yield from self._mcu_entities(self.mcu)

    def _mcu_entities(self, mcu: McuInfo) -> Iterator[tuple[str, str, dict[str, Any]]]:
        device = self._mcu_device(mcu)
        for channel in mcu.channels:
            if not _CHANNEL_NAME.match(channel):  # it goes into a template as an attribute name
                logger.warning("Home Assistant discovery: skipping MCU channel %r (expected [a-z0-9_] only)", channel)
                continue
            object_id = "mcu_" + _NOT_NODE_ID.sub("_", channel)
            stem, _, suffix = channel.rpartition("_")
            unit, device_class = _CHANNEL_UNITS.get(suffix.lower(), (None, None)) if stem else (None, None)
            keys: dict[str, Any] = {"state_class": "measurement"}
            if unit:
                keys["unit_of_measurement"] = unit
            if device_class:
                keys["device_class"] = device_class
            label = (stem if unit else channel).replace("_", " ").capitalize()
            yield "sensor", object_id, self._entity(
                object_id, label, device, **self._result_keys(),
                value_template=_guarded(["inputs", "sensor", channel], mapping_parent=True), **keys,
            )
        if mcu.actuators:
            yield "sensor", "mcu_motor_state", self._entity(
                "mcu_motor_state", "Motor state", device, state_topic=self.topics.stats,
                value_template=_guarded(["actions", "current_action"]),
                icon="mdi:engine",
            )
        yield "sensor", "mcu_link", self._entity(
            "mcu_link", "Link", device, state_topic=self.topics.stats,
            value_template=_guarded(["bridge", "state"]),
            entity_category="diagnostic", icon="mdi:serial-port",
        )
