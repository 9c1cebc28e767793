"""The demo's MQTT client: what an app on the robot's network sees, and the operator who commands it.

It subscribes to the device's ``events`` topic (every result, QoS 1), keeps one receipt per
``(boot, seq)`` of the run it watches, and tells its caller when the decision or the command
changes, so a console shows one line per change rather than fifteen a second. The same client sends
the text commands (``cmd/text``), as a phone app would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_sdk._lazy import require
from edge_sdk.sinks.mqtt.topics import Topics

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DemoSubscriber", "Receipt"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """One result as the subscriber got it; ``received_s`` is ``time.time()`` at arrival."""

    seq: int
    label: str | None
    confidence: float
    text: str | None
    distance_cm: float | None
    frame_ts: float
    received_s: float
    replayed: bool

    @property
    def latency_ms(self) -> float:
        """Frame capture to receipt here: camera, fusion, outbox, broker, network, all of it."""
        return (self.received_s - self.frame_ts) * 1000.0


ChangeCallback = Callable[[Receipt], None]


class DemoSubscriber:
    """``with DemoSubscriber(port, "seek-demo") as sub: ...``; call :meth:`watch_boot` once the
    publisher's boot id is known, so results left in an old outbox by an earlier run do not count."""

    def __init__(self, host: str, port: int, device: str, *, on_change: ChangeCallback | None = None,
                 protocol: str = "3.1.1") -> None:
        mqtt = require("paho.mqtt.client", "the demo subscriber")
        self.topics = Topics("edge_sdk", device)
        self.host, self.port = host, port
        self._on_change = on_change
        version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"seek-demo-app-{device}",
                                   protocol=version)
        self._client.on_connect = self._connected
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._message
        self._lock = threading.Lock()
        self._boot: str | None = None
        self._receipts: dict[int, Receipt] = {}
        self.duplicates = 0
        self.other_boots = 0
        self.malformed = 0
        self._last_key: tuple[str | None, str | None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Self:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise TimeoutError(f"demo subscriber: not subscribed on {self.host}:{self.port} within {timeout_s} s")
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the demo uses ---------------------------------------------------------------------
    def watch_boot(self, boot: str) -> None:
        with self._lock:
            self._boot = boot

    def send_command(self, name: str, text: str, timeout_s: float = 2.0) -> bool:
        """Publish ``text`` on ``cmd/<name>`` at QoS 1; True once the broker acknowledged it."""
        info = self._client.publish(self.topics.cmd(name), text.encode("utf-8"), qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            _log.warning("command %s not sent: %s", name, exc)
            return False
        return bool(info.is_published())

    def receipts(self) -> list[Receipt]:
        with self._lock:
            return sorted(self._receipts.values(), key=lambda r: r.seq)

    @property
    def received(self) -> int:
        with self._lock:
            return len(self._receipts)

    def wait_received(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.received < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # -- paho callbacks (network thread) --------------------------------------------------------
    def _connected(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not reason_code.is_failure:
            client.subscribe(self.topics.events, qos=1)

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        received_s = time.time()
        try:
            payload = json.loads(message.payload)
            inputs = payload.get("inputs", {})
            sensor = inputs.get("sensor") or {}
            # edge_sdk.result/2: the classifier's fields under "result"; /1 had them at the top
            decided = payload["result"] if payload.get("schema") == "edge_sdk.result/2" else payload
            receipt = Receipt(int(payload["seq"]), decided.get("label"), float(decided.get("confidence") or 0.0),
                              inputs.get("text"), sensor.get("distance_cm"), float(inputs["frame_ts"]),
                              received_s, bool(payload.get("replayed", False)))
            boot = payload["boot"]
        except (ValueError, KeyError, TypeError, AttributeError):
            self.malformed += 1
            return
        with self._lock:
            if self._boot is not None and boot != self._boot:
                self.other_boots += 1
                return
            if receipt.seq in self._receipts:
                self.duplicates += 1  # at-least-once delivery: (boot, seq) drops the repeat
                return
            self._receipts[receipt.seq] = receipt
            key = (receipt.label, receipt.text)
            changed = key != self._last_key
            self._last_key = key
        if changed and self._on_change is not None:
            try:
                self._on_change(receipt)
            except Exception:  # noqa: BLE001 - a printing callback must not kill paho's network thread
                _log.exception("change callback failed")
