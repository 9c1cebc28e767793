"""``MQTTRecorder``: a real paho subscriber that records what a broker delivers, for tests and benches."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_sdk._lazy import require

if TYPE_CHECKING:
    from typing import Self

__all__ = ["MQTTRecorder", "Received"]


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    received_s: float  # time.time() at arrival

    def json(self) -> Any:
        return json.loads(self.payload)


class MQTTRecorder:
    """Subscribes to ``topics`` on connect and keeps every message; thread-safe waits."""

    def __init__(
        self,
        host: str,
        port: int,
        topics: list[str],
        *,
        protocol: str = "5",
        username: str = "",
        password: str = "",
        ca_file: str = "",
        transport: str = "tcp",
        client_id: str = "",
        persistent_session: bool = False,
    ) -> None:
        """``persistent_session`` (needs ``client_id``) keeps the subscription and queued messages
        across reconnects and broker restarts, so nothing published meanwhile is missed."""
        mqtt = require("paho.mqtt.client", "recording MQTT messages")
        self._mqtt = mqtt
        self.host, self.port, self.topics = host, port, topics
        if persistent_session and not client_id:
            raise ValueError("persistent_session needs a client_id")
        version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        session: dict[str, Any] = {}
        self._connect_options: dict[str, Any] = {}
        if version == mqtt.MQTTv311:
            session["clean_session"] = not persistent_session
        elif persistent_session:
            properties = require("paho.mqtt.properties", "recording MQTT messages").Properties(
                require("paho.mqtt.packettypes", "recording MQTT messages").PacketTypes.CONNECT
            )
            properties.SessionExpiryInterval = 3600
            self._connect_options = {"clean_start": False, "properties": properties}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, transport=transport, **session
        )
        if username:
            self.client.username_pw_set(username, password or None)
        if ca_file:
            self.client.tls_set_context(ssl.create_default_context(cafile=ca_file))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            return
        if self.topics:
            client.subscribe([(topic, 1) for topic in self.topics])
        else:  # a recorder used only to send
            self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._changed:
            self.messages.append(Received(message.topic, message.payload, bool(message.retain), time.time()))
            self._changed.notify_all()

    def start(self, timeout_s: float = 5.0) -> Self:
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect_async(self.host, self.port, keepalive=30, **self._connect_options)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise TimeoutError(f"recorder not subscribed on {self.host}:{self.port} within {timeout_s} s")
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def on(self, topic: str) -> list[Received]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(messages)`` holds; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True
