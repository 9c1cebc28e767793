"""``MQTTLink``: the one delivery implementation, for results already stamped with ``(boot, seq)``.

Data path::

    accept() ─▶ outbox.append (committed) ─▶ wake delivery (results come encoded and stamped)
    delivery rounds (delivery.py) ─▶ paho.publish (QoS 1) ─▶ PUBACK ─▶ delete acknowledged (batched)

``accept`` does no network I/O and never waits for the broker: it persists the results (one SQLite
commit) and hands them to the delivery rounds, which send in arrival order from the outbox's
in-memory tail. At most ``outbox.inflight_window`` messages are handed to paho and not yet
acknowledged; the rest wait in the outbox, so an outage grows the file, never the memory.

The link also owns availability (``online``; ``stopped`` from :meth:`close`; ``offline``, the will,
after a crash or :meth:`abort`), the stats topic, raw messages (a retained one waits, the newest per
topic, for the broker) and Home Assistant discovery; ``health.py`` counts failures. Stamping results
and command handlers are :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher`'s or, in the delivery
process, :class:`~edge_sdk.sinks.mqtt.process.PublisherProcess`'s; command messages go to ``on_command_message``.
Threads: paho's (``paho-mqtt-client-<client id>``, reconnects with backoff) and ``edge_sdk-mqtt-outbox``, or
none with a :class:`~edge_sdk.sinks.mqtt.selector_loop.SelectorLoop` (the delivery process): its thread drives both.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.connection import end_as_crashed, make_client
from edge_sdk.sinks.mqtt.delivery import Delivery
from edge_sdk.sinks.mqtt.health import LinkHealth
from edge_sdk.sinks.mqtt.held_retained import HeldRetained
from edge_sdk.sinks.mqtt.homeassistant import HomeAssistantDiscovery, HostInfo, McuInfo, TaskInfo
from edge_sdk.sinks.mqtt.outbox import Outbox
from edge_sdk.sinks.mqtt.payload import ResultStamper, Stamped, encode, encode_stamped
from edge_sdk.sinks.mqtt.selector_loop import PahoThread, SelectorLoop
from edge_sdk.sinks.mqtt.topics import Topics

__all__ = ["ACCEPTING", "MQTTLink", "PublisherState"]

logger = logging.getLogger(__name__)


class PublisherState(enum.Enum):
    CREATED = "created"
    CONNECTING = "connecting"  # started, never connected yet
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # connection lost or refused; paho retries with backoff
    CLOSING = "closing"
    CLOSED = "closed"


ACCEPTING = (PublisherState.CONNECTING, PublisherState.CONNECTED, PublisherState.RECONNECTING)


class MQTTLink:
    """Outbox, paho client, availability and discovery for one device; see the module docstring."""

    def __init__(self, config: MQTTConfig, *, boot: str, on_command_message: Callable[[str, bytes], None],
                 owner_pid: int | None = None, loop: SelectorLoop | None = None) -> None:
        """``owner_pid``: the run's process, named to a second run that finds the outbox in use (default: this one).
        ``loop``: drive paho and the outbox from it (its thread calls everything), not from threads of their own."""
        self.config = config
        self._network = PahoThread() if loop is None else loop
        self._on_command_message = on_command_message
        self.topics = Topics(config.topic_prefix, config.device_id)
        self.client_id = config.make_client_id()
        self._stamper = ResultStamper(config.device_id, boot)  # the stats envelope, and last_seq
        self._outbox = Outbox(
            config.outbox.resolved_path(config.device_id),
            max_bytes=config.outbox.max_bytes,
            max_age_s=config.outbox.max_age_s,
            drop_policy=config.outbox.drop_policy,
            device_id=config.device_id,
            owner_pid=owner_pid,
        )
        self._client: Any = None
        self._held_raw = HeldRetained()  # retained raw messages offered while down
        self._state = PublisherState.CREATED
        self._lock = threading.Lock()  # seq order == outbox order
        self._close_lock = threading.Lock()
        self._connected = threading.Event()
        self._commands_subscription: int | None = None  # mid of the SUBSCRIBE to cmd/+ on this connection
        self._commands_subscribed = threading.Event()  # its SUBACK granted it: commands can arrive
        self._counts = collections.Counter[str]()
        self._health = LinkHealth(config, self._counts, self.topics.events)
        self._delivery = Delivery(
            self._outbox, boot=boot, window=config.outbox.inflight_window, connected=self._connected,
            counts=self._counts, on_refused=self._health.refused_results, events_topic=self.topics.events,
            result_topic=self.topics.result, result_qos=config.result_qos, memory_rows=config.outbox.memory_rows,
            latest_interval_s=config.retain_interval_s,
        )
        self.discovery: HomeAssistantDiscovery | None = None
        if config.homeassistant.enabled:
            self.discovery = HomeAssistantDiscovery(
                config.homeassistant, self.topics,
                result_topic=self.topics.result if config.retain_result else self.topics.events,
            )

    @property
    def boot(self) -> str:
        return self._stamper.boot

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pending(self) -> int:
        """Results in the outbox, not acknowledged yet."""
        return len(self._outbox)

    @property
    def last_error(self) -> PublishError | None:
        """The latest connection or delivery problem (kept after recovery, for the record)."""
        return self._health.last_error

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the outbox and start connecting in the background; returns at once."""
        if self._state is not PublisherState.CREATED:
            raise PublishError(f"start() needs a new publisher. State: {self._state.value}")
        client = make_client(self.config, self.client_id, self.topics)
        self._outbox.open()
        self._health.attach(client)
        for event in ("connect", "connect_fail", "pre_connect", "subscribe", "disconnect", "publish", "message"):
            setattr(client, f"on_{event}", getattr(self, f"_on_{event}"))  # the callbacks below
        self._client = client
        self._state = PublisherState.CONNECTING
        self._delivery.start(client, thread=self._network.threaded)
        extra = {"clean_start": True} if self.config.protocol == "5" else {}
        client.connect_async(self.config.host, self.config.effective_port, self.config.keepalive_s, **extra)
        self._network.attach(client, self._delivery.pump, reconnect_min_s=self.config.reconnect_min_s,
                             reconnect_max_s=self.config.reconnect_max_s)
        logger.info(
            "publishing for %s to %s:%d (MQTT %s over %s, client id %s, boot %s)", self.config.device_id,
            self.config.host, self.config.effective_port, self.config.protocol, self.config.transport,
            self.client_id, self.boot,
        )
        if self.config.protocol == "3.1.1":  # loud where an ACL per user is likely (not the embedded broker)
            logger.log(logging.WARNING if self.config.username else logging.INFO, "MQTT 3.1.1 has no reason codes: a "
                       "result the broker's ACL denies is acknowledged and lost silently (refused_by_broker stays 0); "
                       "use protocol 5 where the broker speaks it")

    def wait_connected(self, timeout_s: float) -> None:
        """Block until connected; raise :class:`PublishError` with the last failure on timeout."""
        if self._network.run_until(self._connected.is_set, timeout_s):
            return
        where = f"{self.config.host}:{self.config.effective_port}"
        cause = self._health.last_error or "no answer yet"
        raise PublishError(f"not connected to MQTT broker {where} after {timeout_s} s. Last error: {cause}")

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged everything in the outbox; False on timeout."""
        return self._delivery.flush(timeout_s, None if self._network.threaded else self._network.run_until)

    def close(self, drain_timeout_s: float | None = None) -> None:
        """Deliver what can be delivered within ``drain_timeout_s`` (default: the config's), say
        ``stopped``, disconnect; idempotent."""
        with self._close_lock:
            if self._state in (PublisherState.CLOSED, PublisherState.CLOSING):
                return
            if self._state is PublisherState.CREATED:
                self._state = PublisherState.CLOSED
                return
            first_attempt = self._state is PublisherState.CONNECTING
            self._state = PublisherState.CLOSING
            drain_s = self.config.drain_timeout_s if drain_timeout_s is None else drain_timeout_s
            waited_s = 0.0
            if first_attempt and len(self._outbox) and drain_s > 0:
                # publish-then-close in one breath: the first connection is still being made, and it is
                # not an outage (that is RECONNECTING, where close must not wait): let it finish
                started_s = time.monotonic()
                self._network.run_until(self._connected.is_set, drain_s)
                waited_s = time.monotonic() - started_s
            was_connected = self._connected.is_set()
            if was_connected and drain_s > waited_s and not self.flush(drain_s - waited_s):
                logger.warning("close: %d results not acknowledged yet stay in the outbox", len(self._outbox))
            client = self._client
            if self._connected.is_set():
                info = client.publish(self.topics.available, b"stopped", qos=1, retain=True)
                try:
                    self._network.run_until(info.is_published, 2.0)
                except (RuntimeError, ValueError) as exc:  # queue full or not connected any more
                    logger.warning("close: could not publish 'stopped': %s", exc)
            self._network.leave(client.disconnect)
            self._delivery.stop()
            self._outbox.close()
            self._connected.clear()
            self._state = PublisherState.CLOSED
            logger.info("publisher closed; %d results left in the outbox", len(self._outbox))

    def abort(self) -> None:
        """The owner died without a clean stop: keep the outbox as it is for the next run, and leave so
        that subscribers see ``offline`` (the will), as after any crash, not ``stopped``; idempotent."""
        with self._close_lock:
            if self._state not in ACCEPTING:
                self._state = PublisherState.CLOSED if self._state is PublisherState.CREATED else self._state
                return
            self._state = PublisherState.CLOSING
            self._delivery.stop()  # nothing more is handed to paho; unacknowledged rows stay in the file
            client = self._client
            run_until = self._network.run_until
            crashed = self._connected.is_set()  # else there is no session to end: the broker sent the will
            self._network.leave((lambda: end_as_crashed(client, self.config, self.topics, run_until)) if crashed
                                else client.disconnect)
            self._outbox.close()
            self._connected.clear()
            self._state = PublisherState.CLOSED
            logger.warning("delivery aborted, offline: %d results stay in the outbox for the next run", len(self._outbox))

    # -- publishing ------------------------------------------------------------------------------

    def accept(self, stamped: Sequence[Stamped], *, strict: bool = True) -> None:
        """Commit (one outbox transaction) and queue results stamped with this link's ``boot``, as
        ``(seq, message)`` in ``seq`` order: the stamped JSON (what the publisher sends), or a stamped dict.
        ``(seq, message, topic)`` goes to ``topic`` instead of ``events`` (a description on ``caption``),
        with the same guarantee; its ``seq`` is its own stream's and not the retained result.

        ``strict``: a payload that is not JSON (NaN) raises and nothing is accepted. Otherwise it is
        logged, counted (``unencodable``) and skipped: the delivery process does so, because the
        caller that could handle the error is in the other process and already has its ``seq``.
        """
        if self._state not in ACCEPTING:
            raise PublishError(f"publish_result needs a started publisher. State: {self._state.value}")
        messages = [(seq, data, None if topic is None else self._full_topic(topic))
                    for seq, data, topic in encode_stamped(stamped, strict, self._counts)]
        if not messages:
            return
        events = self.topics.events
        results = [m for m in messages if m[2] is None]
        with self._lock:
            if results:
                self._stamper.last_seq = results[-1][0]
            row_ids = self._outbox.append_many(self.boot, [(seq, topic or events, data) for seq, data, topic in messages],
                                               time.time())
            for row_id, (_, data, topic) in zip(row_ids, messages):
                if row_id is not None:
                    self._delivery.queue(row_id, data, topic)
            counts = self._counts
            counts["results"] += len(results)
            counts["rejected"] += sum(1 for row_id in row_ids if row_id is None)
            if self.config.retain_result and results:
                self._delivery.latest = results[-1][1]
                self._delivery.wake()

    def publish_stats(self, body: dict[str, Any], mqtt_extra: Mapping[str, Any] | None = None) -> bool:
        """Publish on the stats topic (QoS 0, dropped while disconnected); True when sent. ``body``
        gets an ``mqtt`` section, :meth:`stats` with ``mqtt_extra`` (the caller's command counts)."""
        if not self._connected.is_set() or self._state not in ACCEPTING:
            self._counts["stats_dropped"] += 1
            return False
        body.setdefault("mqtt", {**self.stats(), **(mqtt_extra or {})})
        self._client.publish(self.topics.stats, encode(self._stamper.stats_payload(body, time.time())), qos=0)
        self._counts["stats_sent"] += 1
        return True

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Send bytes as they are, outside the outbox; True when sent now. While disconnected a retained
        message waits, the newest per topic, for the next connect; any other is dropped (counted).
        ``topic`` is relative to the device (``snapshot``) or absolute when it starts with the topic prefix."""
        if retain and self._state in ACCEPTING:
            return self._held_raw.offer(self._full_topic(topic), payload, qos,
                                        up=self._connected.is_set, publish=self._publish_retained)
        if not self._connected.is_set() or self._state not in ACCEPTING:
            self._counts["raw_dropped"] += 1
            return False
        self._client.publish(self._full_topic(topic), payload, qos=qos)
        return True

    def _publish_retained(self, topic: str, payload: bytes, qos: int) -> None:
        self._client.publish(topic, payload, qos=qos, retain=True)

    def _full_topic(self, topic: str) -> str:
        return topic if topic.startswith(self.config.topic_prefix + "/") else f"{self.topics.base}/{topic}"

    def announce_homeassistant(self, mcu: McuInfo | None = None, host: HostInfo | None = None,
                               task: TaskInfo | None = None) -> bool:
        """Set the MCU (and host, and the model's task) shown in Home Assistant and announce again when
        connected. Returns False, doing nothing, when ``mqtt.homeassistant.enabled`` is off.
        """
        discovery = self.discovery
        if discovery is None:
            return False
        discovery.mcu = mcu
        if host is not None:
            discovery.host = host
        if task is not None:
            discovery.task = task
        if self._connected.is_set():
            self._announce(self._client)
        return True

    def stats(self) -> dict[str, Any]:
        counts = self._counts
        return {
            "state": self._state.value,
            "connected": self._connected.is_set(),
            "commands_subscribed": self._commands_subscribed.is_set(),  # the broker granted cmd/+ on this connection
            "client_id": self.client_id,
            "boot": self.boot,
            "last_seq": self._stamper.last_seq,
            "accepted": counts["results"] - counts["rejected"],  # committed to the outbox by this run
            "results": counts["results"],  # handed to the link: accepted + rejected (outbox full, reject_new)
            "acked": counts["acked"],
            "refused_by_broker": counts["refused"],
            "replayed": counts["replayed"],
            "inflight": self._delivery.inflight,
            "awaiting_delete": self._delivery.awaiting_delete,
            "rejected": counts["rejected"],
            "unencodable": counts["unencodable"],
            "homeassistant_announcements": counts["ha_announcements"],
            "connects": counts["connects"],
            "disconnects": counts["disconnects"],
            "connect_failures": counts["connect_failures"],
            "last_error": str(self._health.last_error) if self._health.last_error else None,
            "last_error_kind": self._health.last_error_kind,
            "stats_sent": counts["stats_sent"],
            "stats_dropped": counts["stats_dropped"],
            "raw_dropped": counts["raw_dropped"] + self._held_raw.replaced + self._held_raw.refused,
            "raw_held": len(self._held_raw),  # retained, waiting for the broker
            "outbox": self._outbox.stats(),
            "outbox_file_reads": self._delivery.file_reads,
            "outbox_in_memory": self._delivery.in_memory,
        }

    # -- paho callbacks (its network thread, or the selector loop's) -----------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._health.refused_connect(reason_code)
            if self._state is PublisherState.CONNECTED:
                self._state = PublisherState.RECONNECTING
            return
        self._health.connected()
        if self._state in ACCEPTING:
            self._state = PublisherState.CONNECTED
        client.publish(self.topics.available, b"online", qos=1, retain=True)
        self._commands_subscription = client.subscribe(self.topics.commands, qos=1)[1]
        if self.discovery is not None:
            client.subscribe(self.discovery.status_topic, qos=1)
            self._announce(client)
        self._connected.set()
        self._held_raw.send_all(self._publish_retained)
        self._delivery.wake_now()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._health.connect_raised()

    def _on_pre_connect(self, client: Any, userdata: Any) -> None:
        self._health.attempt_started()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if mid != self._commands_subscription:
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:  # e.g. an ACL without read access to cmd/#: no command would ever arrive
            logger.warning("MQTT broker refused the subscription to %s (%s): this device receives no commands",
                           self.topics.commands, ", ".join(refused))
        else:
            self._commands_subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._commands_subscribed.clear()
        if self._state in (PublisherState.CLOSING, PublisherState.CLOSED):
            return
        if self._state in ACCEPTING:
            self._state = PublisherState.RECONNECTING
        self._health.disconnected(reason_code, was_connected=was_connected, pending=len(self._outbox))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        # paho holds its message lock here and accept() holds ours while calling paho:
        # taking our lock here could deadlock, so hand the ack to the outbox thread.
        self._delivery.on_publish(mid, reason_code)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        discovery = self.discovery
        if discovery is not None and message.topic == discovery.status_topic:
            if discovery.is_restart(message.topic, message.payload):
                logger.info("Home Assistant (re)started: announcing %s again", self.config.device_id)
                self._announce(client)
            return
        self._on_command_message(message.topic, message.payload)

    def _announce(self, client: Any) -> None:
        assert self.discovery is not None
        self.discovery.announce(lambda topic, payload: client.publish(topic, payload, qos=1, retain=True))
        self._counts["ha_announcements"] += 1
