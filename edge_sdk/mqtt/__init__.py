"""MQTT out of the device: results at least once through a durable outbox, stats, availability, commands.

Importing this package does no I/O and does not import paho-mqtt or amqtt; they are imported
when a publisher or an embedded broker starts.
"""

from edge_sdk.mqtt.broker import EmbeddedBroker
from edge_sdk.mqtt.commands import CommandRouter
from edge_sdk.mqtt.config import (
    HomeAssistantConfig,
    MQTTConfig,
    OutboxConfig,
    TLSConfig,
)
from edge_sdk.mqtt.homeassistant import HomeAssistantDiscovery, HostInfo, McuInfo
from edge_sdk.mqtt.outbox import Outbox, OutboxRow
from edge_sdk.mqtt.payload import RESULT_SCHEMA, STATS_SCHEMA, ResultStamper
from edge_sdk.mqtt.publisher import MQTTPublisher, PublisherState
from edge_sdk.mqtt.sinks import JSONLinesSink
from edge_sdk.mqtt.topics import Topics

__all__ = [
    "RESULT_SCHEMA",
    "STATS_SCHEMA",
    "CommandRouter",
    "EmbeddedBroker",
    "HomeAssistantConfig",
    "HomeAssistantDiscovery",
    "HostInfo",
    "JSONLinesSink",
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
