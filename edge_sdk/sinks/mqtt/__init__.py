"""MQTT out of the device: results at least once through a durable outbox, stats, availability, commands.

Importing this package does no I/O and does not import paho-mqtt or amqtt; they are imported
when a publisher or an embedded broker starts.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

# Names load on first use: the config loader needs MQTTConfig, not asyncio (the embedded broker).
_EXPORTS = {
    "EmbeddedBroker": "edge_sdk.sinks.mqtt.broker",
    "CommandRouter": "edge_sdk.sinks.mqtt.commands",
    "HomeAssistantConfig": "edge_sdk.sinks.mqtt.config",
    "MQTTConfig": "edge_sdk.sinks.mqtt.config",
    "OutboxConfig": "edge_sdk.sinks.mqtt.config",
    "TLSConfig": "edge_sdk.sinks.mqtt.config",
    "HomeAssistantDiscovery": "edge_sdk.sinks.mqtt.homeassistant",
    "HostInfo": "edge_sdk.sinks.mqtt.homeassistant",
    "McuInfo": "edge_sdk.sinks.mqtt.homeassistant",
    "Outbox": "edge_sdk.sinks.mqtt.outbox",
    "OutboxRow": "edge_sdk.sinks.mqtt.outbox",
    "RESULT_SCHEMA": "edge_sdk.sinks.mqtt.payload",
    "STATS_SCHEMA": "edge_sdk.sinks.mqtt.payload",
    "ResultStamper": "edge_sdk.sinks.mqtt.payload",
    "MQTTPublisher": "edge_sdk.sinks.mqtt.publisher",
    "PublisherState": "edge_sdk.sinks.mqtt.link",
    "Topics": "edge_sdk.sinks.mqtt.topics",
}

__all__ = [
    "RESULT_SCHEMA",
    "STATS_SCHEMA",
    "CommandRouter",
    "EmbeddedBroker",
    "HomeAssistantConfig",
    "HomeAssistantDiscovery",
    "HostInfo",
    "MQTTConfig",
    "MQTTPublisher",
    "McuInfo",
    "Outbox",
    "OutboxConfig",
    "OutboxRow",
    "PublisherState",
    "ResultStamper",
    "TLSConfig",
    "Topics",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
