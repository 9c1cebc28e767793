"""MQTT out of the device: results at least once through a durable outbox, stats, availability, commands.

Importing this package does no I/O and does not import paho-mqtt or amqtt; they are imported
when a publisher or an embedded broker starts.
"""

from edge_sdk.sinks.mqtt.broker import EmbeddedBroker
from edge_sdk.sinks.mqtt.commands import CommandRouter
from edge_sdk.sinks.mqtt.config import (
    HomeAssistantConfig,
    MQTTConfig,
    OutboxConfig,
    TLSConfig,
)
from edge_sdk.sinks.mqtt.homeassistant import HomeAssistantDiscovery, HostInfo, McuInfo
from edge_sdk.sinks.mqtt.outbox import Outbox, OutboxRow
from edge_sdk.sinks.mqtt.payload import RESULT_SCHEMA, STATS_SCHEMA, ResultStamper
from edge_sdk.sinks.mqtt.publisher import MQTTPublisher, PublisherState
from edge_sdk.sinks.mqtt.topics import Topics

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
