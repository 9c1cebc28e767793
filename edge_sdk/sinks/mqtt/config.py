"""Options of the MQTT publisher: broker, identity, TLS, delivery and the durable outbox.

Built from the ``mqtt:`` section of the device config with :func:`edge_sdk.configtools.build`, so
unknown keys are rejected and ``${VAR}`` values (passwords, key paths) come from the environment::

    mqtt:
      host: broker.lan
      username: pi-kitchen
      password: ${MQTT_PASSWORD}
      tls: {ca_file: /etc/edge_sdk/ca.pem}
      outbox: {path: /var/lib/edge_sdk/outbox.sqlite3, max_bytes: 50000000}
      homeassistant: {enabled: true, discovery_prefix: homeassistant}
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edge_sdk._cpus import usable_cpus
from edge_sdk.configtools import bounds, check_bounds
from edge_sdk.errors import ConfigError

__all__ = ["DropPolicy", "HomeAssistantConfig", "MQTTConfig", "OutboxConfig", "TLSConfig"]

DropPolicy = Literal["drop_oldest", "reject_new"]

# MQTT topic levels may hold almost anything, but a device id also names files and client ids, and
# '+', '#' and '/' in it would change the meaning of every topic filter a consumer writes.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Home Assistant accepts only these in the node id and object id levels of a discovery topic.
_HA_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{0,64}$")


@dataclass(frozen=True)
class TLSConfig:
    """TLS towards the broker. An empty ``ca_file`` with ``enabled`` uses the system CA store."""

    enabled: bool = field(default=False, metadata={"help": "connect with TLS"})
    ca_file: str = field(default="", metadata={"help": "PEM file of the CA that signed the broker certificate"})
    cert_file: str = field(default="", metadata={"help": "client certificate (PEM) for mutual TLS"})
    key_file: str = field(default="", metadata={"help": "private key (PEM) of the client certificate"})
    insecure: bool = field(
        default=False, metadata={"help": "skip the broker hostname check (the chain is still verified)"}
    )

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError(
                "mqtt.tls: cert_file and key_file go together. "
                f"Got: cert_file={self.cert_file!r}, key_file={self.key_file!r}"
            )

    @property
    def active(self) -> bool:
        return self.enabled or bool(self.ca_file or self.cert_file)


@dataclass(frozen=True)
class OutboxConfig:
    """The disk-backed outbox that keeps every result until the broker acknowledged it."""

    path: str = field(
        default="",
        metadata={"help": "SQLite file; empty: $XDG_STATE_HOME/edge_sdk/<device_id>/outbox.sqlite3"},
    )
    max_bytes: int = field(default=50_000_000, metadata={**bounds(ge=1024),
        "help": "bound on the stored payload bytes"})
    max_age_s: float = field(default=7 * 24 * 3600.0, metadata={**bounds(gt=0),
        "help": "results older than this are dropped"})
    drop_policy: DropPolicy = field(
        default="drop_oldest", metadata={"help": "when max_bytes is reached: drop_oldest or reject_new"}
    )
    inflight_window: int = field(
        default=100, metadata={**bounds(ge=1, le=10_000),
            "help": "results handed to the network and not yet acknowledged, at most"}
    )
    memory_rows: int = field(
        default=1024,
        metadata={**bounds(ge=0, le=100_000),
            "help": "results also kept in memory for sending (no read-back); the rest wait in the file only"},
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    def resolved_path(self, device_id: str) -> Path:
        if self.path:
            return Path(self.path).expanduser()
        state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return state_home / "edge_sdk" / device_id / "outbox.sqlite3"


@dataclass(frozen=True)
class HomeAssistantConfig:
    """Home Assistant MQTT discovery: the device and its entities appear in Home Assistant by themselves."""

    enabled: bool = field(default=False, metadata={"help": "publish discovery configs on every (re)connect"})
    discovery_prefix: str = field(
        default="homeassistant", metadata={"help": "Home Assistant's discovery prefix (its MQTT integration option)"}
    )
    node_id: str = field(
        default="", metadata={"help": "discovery topic node id; empty: the device id with '.' turned into '_'"}
    )
    name: str = field(default="", metadata={"help": "device name shown in Home Assistant; empty: the device id"})
    expire_after_s: int = field(
        default=0, metadata={**bounds(ge=0),
            "help": "result sensors become unavailable after this long without a result; 0: never"}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        prefix = self.discovery_prefix
        if not prefix or any(c in prefix for c in "+#") or prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigError(
                "mqtt.homeassistant.discovery_prefix: expected a topic without '+', '#' or a leading or "
                f"trailing '/'. Got: {prefix!r}"
            )
        if not _HA_NODE_ID.match(self.node_id):
            raise ConfigError(
                f"mqtt.homeassistant.node_id: expected letters, digits, '_' or '-' only. Got: {self.node_id!r}"
            )


@dataclass(frozen=True)
class MQTTConfig:
    """Everything the publisher needs; see the module docstring for a YAML example."""

    device_id: str = field(metadata={
        "help": "names the device in topics, payloads and the client id; in a device config it comes from the "
                "top-level device (required only when MQTTConfig is built in code)"})
    host: str = field(default="127.0.0.1", metadata={"help": "broker host name or address"})
    port: int = field(default=0, metadata={**bounds(ge=0, le=65535),
        "help": "broker port; 0: 1883, 8883 with TLS, 80/443 for websockets"})
    transport: Literal["tcp", "websockets"] = field(default="tcp", metadata={"help": "tcp or websockets"})
    websocket_path: str = field(default="/mqtt", metadata={"help": "HTTP path of the websockets endpoint"})
    protocol: Literal["3.1.1", "5"] = field(default="5", metadata={
        "help": "MQTT protocol version; 3.1.1 only for a broker that speaks nothing newer: it has no reason codes, so "
                "a publish the broker's ACL denies is acknowledged and lost silently (docs/mqtt.md)"})
    client_id: str = field(default="", metadata={"help": "empty: edge-sdk-<device_id>-<random suffix>"})
    username: str = field(default="", metadata={"help": "empty: no authentication; ${VAR} reads the environment"})
    password: str = field(default="", metadata={"help": "use ${VAR} to keep it out of the file"})
    tls: TLSConfig = field(default_factory=TLSConfig, metadata={"help": "TLS options"})
    keepalive_s: int = field(default=30, metadata={**bounds(ge=1),
        "help": "MQTT keepalive; the last will fires after 1.5x this"})
    topic_prefix: str = field(default="edge_sdk", metadata={"help": "first level of every topic"})
    result_qos: Literal[0, 1] = field(
        default=0, metadata={"help": "QoS of the retained latest result (events are always QoS 1)"}
    )
    retain_result: bool = field(default=True, metadata={"help": "retain the latest result on <device>/result"})
    retain_interval_s: float = field(default=0.1, metadata={
        **bounds(ge=0, le=3600),
            "help": "refresh the retained result at most this often (the newest one is always sent last); every "
                "result still goes to <device>/events. 0: with every result"})
    reconnect_min_s: float = field(default=0.5, metadata={"help": "first reconnect delay; doubles each failure"})
    reconnect_max_s: float = field(default=30.0, metadata={"help": "longest reconnect delay"})
    drain_timeout_s: float = field(
        default=5.0, metadata={"help": "on close, wait this long for unacknowledged results to be delivered"}
    )
    command_max_bytes: int = field(default=65_536, metadata={"help": "larger command payloads are rejected"})
    command_queue_size: int = field(default=64, metadata={"help": "pending commands; newer ones are rejected"})
    outbox: OutboxConfig = field(default_factory=OutboxConfig, metadata={"help": "durable outbox options"})
    delivery: Literal["auto", "process", "threads"] = field(default="auto", metadata={
        "help": "edge-sdk run: deliver (outbox, paho) from a child process, on another core than inference, or from "
                "threads of the runtime process. auto: the process when the runtime may use two or more CPUs "
                "(measured: 1.3-1.5x the results/s on 2 cores, 0.7-0.8x on one)"})
    homeassistant: HomeAssistantConfig = field(
        default_factory=HomeAssistantConfig, metadata={"help": "Home Assistant MQTT discovery"}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        if not _DEVICE_ID.match(self.device_id):
            raise ConfigError(
                "mqtt.device_id: expected 1-64 letters, digits, '_', '.' or '-', starting with a letter or "
                f"digit. Got: {self.device_id!r}"
            )
        if not self.topic_prefix or any(c in self.topic_prefix for c in "+#") or self.topic_prefix.endswith("/"):
            raise ConfigError(
                f"mqtt.topic_prefix: expected a non-empty topic without '+', '#' or a trailing '/'. "
                f"Got: {self.topic_prefix!r}"
            )
        if self.password and not self.username:
            raise ConfigError("mqtt.password is set but mqtt.username is empty; set both or neither")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ConfigError(
                "mqtt: expected 0 < reconnect_min_s <= reconnect_max_s. "
                f"Got: reconnect_min_s={self.reconnect_min_s}, reconnect_max_s={self.reconnect_max_s}"
            )

    @property
    def delivery_in_process(self) -> bool:
        """Whether ``delivery`` means a child process here (``auto``: two or more usable CPUs)."""
        if self.delivery != "auto":
            return self.delivery == "process"
        return usable_cpus() >= 2

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        if self.transport == "websockets":
            return 443 if self.tls.active else 80
        return 8883 if self.tls.active else 1883

    def make_client_id(self) -> str:
        """The configured client id, or a fresh unique one: two processes must never share one."""
        return self.client_id or f"edge-sdk-{self.device_id}-{secrets.token_hex(4)}"
