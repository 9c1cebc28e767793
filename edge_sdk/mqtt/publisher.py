"""``MQTTPublisher``: results to an MQTT broker, at least once, without blocking the inference loop.

Data path::

    publish_result() ─▶ stamp (boot, seq) ─▶ outbox.append (committed) ─▶ paho.publish (QoS 1)
                                                  ▲                            │ PUBACK
    outbox thread: refill after outages, replays, │ delete acknowledged ◀──────┘
                   expiry, WAL checkpoints ───────┘

``publish_result`` does no network I/O: when connected and nothing older is waiting it hands the
message to paho's network thread itself (the fast path), otherwise the outbox thread sends it
later in arrival order. At most ``outbox.inflight_window`` messages are handed to paho and not yet
acknowledged; the rest wait on disk, so an outage grows the outbox, never the process memory.

Threads: paho's network thread (``paho-mqtt-client-<client id>``, reconnects with exponential
backoff), ``edge_sdk-mqtt-outbox`` and ``edge_sdk-mqtt-commands`` (command handlers).
"""

from __future__ import annotations

import collections
import enum
import logging
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge_sdk.errors import PublishError
from edge_sdk.mqtt.commands import CommandHandler, CommandRouter, PayloadFormat
from edge_sdk.mqtt.config import MQTTConfig
from edge_sdk.mqtt.connection import (
    describe_connect_failure,
    describe_refusal,
    make_client,
)
from edge_sdk.mqtt.outbox import Outbox
from edge_sdk.mqtt.payload import ResultStamper, encode, mark_replayed
from edge_sdk.mqtt.topics import Topics

if TYPE_CHECKING:
    from typing import Self

__all__ = ["MQTTPublisher", "PublisherState"]

logger = logging.getLogger(__name__)

_PUMP_IDLE_S = 0.5
_EXPIRE_EVERY_S = 1.0
_CHECKPOINT_EVERY_S = 2.0


class PublisherState(enum.Enum):
    CREATED = "created"
    CONNECTING = "connecting"  # started, never connected yet
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # connection lost or refused; paho retries with backoff
    CLOSING = "closing"
    CLOSED = "closed"


_ACCEPTING = (PublisherState.CONNECTING, PublisherState.CONNECTED, PublisherState.RECONNECTING)


class MQTTPublisher:
    """Publishes results, stats and availability for one device; receives its commands.

    >>> with MQTTPublisher(MQTTConfig(device_id="pi-kitchen", host="broker.lan")) as publisher:
    ...     publisher.on_command("prompt", set_prompt, payload_format="text")
    ...     publisher.publish_result({"ts": time.time(), "label": "left", ...})
    """

    def __init__(self, config: MQTTConfig, *, boot: str | None = None) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix, config.device_id)
        self.client_id = config.make_client_id()
        self._stamper = ResultStamper(config.device_id, boot)
        self._router = CommandRouter(
            self.topics, max_payload_bytes=config.command_max_bytes, queue_size=config.command_queue_size
        )
        self._window = config.outbox.inflight_window
        self._outbox = Outbox(
            config.outbox.resolved_path(config.device_id),
            max_bytes=config.outbox.max_bytes,
            max_age_s=config.outbox.max_age_s,
            drop_policy=config.outbox.drop_policy,
        )
        self._client: Any = None
        self._state = PublisherState.CREATED
        self._lock = threading.Lock()  # seq order == outbox order; inflight map; cursor
        self._close_lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._acks: collections.deque[tuple[int, str | None]] = collections.deque()  # (mid, refusal) from paho
        self._cursor = 0  # highest outbox row id handed to paho
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drained = threading.Condition()
        self._pump_thread: threading.Thread | None = None
        self._latest_unsent: bytes | None = None
        self._last_error: PublishError | None = None
        self._last_error_kind: str | None = None
        self._counts = collections.Counter[str]()

    @property
    def boot(self) -> str:
        """Random id of this process start; with ``seq`` it identifies each result."""
        return self._stamper.boot

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def last_error(self) -> PublishError | None:
        """The latest connection or delivery problem (kept after recovery, for the record)."""
        return self._last_error

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Open the outbox and start connecting in the background; returns at once."""
        if self._state is not PublisherState.CREATED:
            raise PublishError(f"start() needs a new publisher. State: {self._state.value}")
        client = make_client(self.config, self.client_id, self.topics, self._window + 32)
        self._outbox.open()
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        self._state = PublisherState.CONNECTING
        self._router.start()
        self._pump_thread = threading.Thread(target=self._pump, name="edge_sdk-mqtt-outbox", daemon=True)
        self._pump_thread.start()
        extra = {"clean_start": True} if self.config.protocol == "5" else {}
        client.connect_async(self.config.host, self.config.effective_port, self.config.keepalive_s, **extra)
        client.loop_start()
        logger.info(
            "publishing for %s to %s:%d (MQTT %s over %s, client id %s, boot %s)", self.config.device_id,
            self.config.host, self.config.effective_port, self.config.protocol, self.config.transport,
            self.client_id, self.boot,
        )
        return self

    def wait_connected(self, timeout_s: float) -> None:
        """Block until connected; raise :class:`PublishError` with the last failure on timeout."""
        if self._connected.wait(timeout_s):
            return
        where = f"{self.config.host}:{self.config.effective_port}"
        cause = self._last_error or "no answer yet"
        raise PublishError(f"not connected to MQTT broker {where} after {timeout_s} s. Last error: {cause}")

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged everything in the outbox; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._drained:
            while len(self._outbox) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._drained.wait(min(remaining, 0.1))
        return True

    def close(self) -> None:
        """Deliver what can be delivered within ``drain_timeout_s``, say ``stopped``, disconnect."""
        with self._close_lock:
            if self._state in (PublisherState.CLOSED, PublisherState.CLOSING):
                return
            if self._state is PublisherState.CREATED:
                self._state = PublisherState.CLOSED
                return
            was_connected = self._connected.is_set()
            self._state = PublisherState.CLOSING
            if was_connected and not self.flush(self.config.drain_timeout_s):
                logger.warning("close: %d results not acknowledged yet stay in the outbox", len(self._outbox))
            client = self._client
            if self._connected.is_set():
                info = client.publish(self.topics.available, b"stopped", qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout=2.0)
                except (RuntimeError, ValueError) as exc:  # queue full or not connected any more
                    logger.warning("close: could not publish 'stopped': %s", exc)
            client.disconnect()
            client.loop_stop()
            self._stop.set()
            self._wake.set()
            if self._pump_thread is not None:
                self._pump_thread.join(timeout=5.0)
            self._settle_acks()
            self._router.close()
            self._outbox.close()
            self._connected.clear()
            self._state = PublisherState.CLOSED
            logger.info("publisher closed; %d results left in the outbox", len(self._outbox))

    def __enter__(self) -> Self:
        if self._state is PublisherState.CREATED:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- publishing ------------------------------------------------------------------------------

    def publish_result(self, result: Mapping[str, Any]) -> int:
        """Stamp, persist and queue one result; return its ``seq``. Never waits for the network.

        ``result`` is the JSON-ready result without ``seq``, ``boot`` and ``replayed``. When the
        outbox is full under ``reject_new`` the result is counted as rejected, not raised.
        """
        if self._state not in _ACCEPTING:
            raise PublishError(f"publish_result needs a started publisher. State: {self._state.value}")
        created_s = time.time()
        wake = False
        client = self._client
        with self._lock:
            seq, payload = self._stamper.stamp(result)
            data = encode(payload)
            row_id = self._outbox.append(self.boot, seq, self.topics.events, data, created_s)
            self._counts["results"] += 1
            connected = self._connected.is_set()
            if row_id is None:
                self._counts["rejected"] += 1
            elif connected and self._cursor == row_id - 1 and len(self._inflight) < self._window:
                self._inflight[client.publish(self.topics.events, data, qos=1).mid] = row_id
                self._cursor = row_id
            else:
                wake = True
            if self.config.retain_result:
                if connected:
                    client.publish(self.topics.result, data, qos=self.config.result_qos, retain=True)
                else:
                    self._latest_unsent = data
        if wake:
            self._wake.set()
        return seq

    def publish_stats(self, stats: Mapping[str, Any]) -> bool:
        """Publish on the stats topic (QoS 0, dropped while disconnected); True when sent."""
        if not self._connected.is_set() or self._state not in _ACCEPTING:
            self._counts["stats_dropped"] += 1
            return False
        body = dict(stats)
        body.setdefault("mqtt", self.stats())
        self._client.publish(self.topics.stats, encode(self._stamper.stats_payload(body, time.time())), qos=0)
        self._counts["stats_sent"] += 1
        return True

    def on_command(self, name: str, handler: CommandHandler, payload_format: PayloadFormat = "json") -> None:
        """Run ``handler`` on the command thread for each valid message on ``cmd/<name>``."""
        self._router.register(name, handler, payload_format)

    def stats(self) -> dict[str, Any]:
        counts = self._counts
        return {
            "state": self._state.value,
            "connected": self._connected.is_set(),
            "client_id": self.client_id,
            "boot": self.boot,
            "last_seq": self._stamper.last_seq,
            "results": counts["results"],
            "acked": counts["acked"],
            "refused_by_broker": counts["refused"],
            "replayed": counts["replayed"],
            "inflight": len(self._inflight),
            "connects": counts["connects"],
            "disconnects": counts["disconnects"],
            "connect_failures": counts["connect_failures"],
            "last_error": str(self._last_error) if self._last_error else None,
            "last_error_kind": self._last_error_kind,
            "stats_sent": counts["stats_sent"],
            "stats_dropped": counts["stats_dropped"],
            "outbox": self._outbox.stats(),
            "commands": self._router.stats(),
            "last_command_rejection": self._router.last_rejection,
        }

    # -- paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._record_failure("refused", describe_refusal(self.config, reason_code))
            return
        self._counts["connects"] += 1
        if self._state in _ACCEPTING:
            self._state = PublisherState.CONNECTED
        client.publish(self.topics.available, b"online", qos=1, retain=True)
        client.subscribe(self.topics.commands, qos=1)
        with self._lock:
            latest, self._latest_unsent = self._latest_unsent, None
            if latest is not None:
                client.publish(self.topics.result, latest, qos=self.config.result_qos, retain=True)
        self._connected.set()
        if self._last_error is not None:
            logger.info("connected to %s:%d after: %s", self.config.host, self.config.effective_port, self._last_error)
        self._wake.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        # paho calls this inside its `except OSError` block and keeps the exception to itself;
        # sys.exc_info() is how we get at the cause (TLS verification, refused, timeout).
        exc = sys.exc_info()[1]
        if exc is None:
            exc = ConnectionError("connection failed")
        kind, error = describe_connect_failure(self.config, exc)
        self._record_failure(kind, error)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._state in (PublisherState.CLOSING, PublisherState.CLOSED):
            return
        if self._state in _ACCEPTING:
            self._state = PublisherState.RECONNECTING
        if was_connected:
            self._counts["disconnects"] += 1
            logger.warning(
                "lost the MQTT connection (%s); %d results in the outbox, reconnecting with backoff",
                reason_code, len(self._outbox),
            )

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        # paho holds its message lock here and publish_result holds ours while calling paho:
        # taking our lock here could deadlock, so hand the ack to the outbox thread.
        self._acks.append((mid, str(reason_code) if reason_code.is_failure else None))
        self._wake.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._router.on_message(message.topic, message.payload)

    def _record_failure(self, kind: str, error: PublishError) -> None:
        self._counts["connect_failures"] += 1
        same = self._last_error is not None and str(self._last_error) == str(error)
        self._last_error, self._last_error_kind = error, kind
        if self._state is PublisherState.CONNECTED:
            self._state = PublisherState.RECONNECTING
        # Log each new failure loudly; repeats (every backoff period) only at debug level.
        logger.log(logging.DEBUG if same else logging.ERROR, "%s Retrying with backoff.", error)

    # -- outbox thread ---------------------------------------------------------------------------

    def _pump(self) -> None:
        last_expire = last_checkpoint = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(_PUMP_IDLE_S)
            self._wake.clear()
            try:
                self._settle_acks()
                if self._connected.is_set():
                    self._refill()
                now = time.monotonic()
                if now - last_expire >= _EXPIRE_EVERY_S:
                    last_expire = now
                    self._outbox.expire()
                if now - last_checkpoint >= _CHECKPOINT_EVERY_S:
                    last_checkpoint = now
                    self._outbox.checkpoint()
            except Exception:  # keep delivering: a failed round is retried on the next wake-up
                self._counts["pump_errors"] += 1
                logger.exception("outbox thread: round failed, retrying")
                time.sleep(_PUMP_IDLE_S)

    def _settle_acks(self) -> None:
        if not self._acks:
            return
        done: list[int] = []
        refused = 0
        reason = ""
        with self._lock:
            while self._acks:
                mid, refusal = self._acks.popleft()
                row_id = self._inflight.pop(mid, None)
                if row_id is not None:
                    done.append(row_id)
                    if refusal is not None:
                        refused, reason = refused + 1, refusal
        if refused:
            # MQTT 5 brokers say why (e.g. ACL: not authorized); resending would be refused again,
            # so the result leaves the outbox and is counted instead of blocking everything after it.
            first = self._counts["refused"] == 0
            self._counts["refused"] += refused
            self._last_error_kind = "refused"
            self._last_error = PublishError(
                f"MQTT broker refused {self._counts['refused']} result(s) so far on {self.topics.events} "
                f"({reason}); check the broker ACL for user {self.config.username or '(anonymous)'}"
            )
            logger.log(logging.ERROR if first else logging.DEBUG, "%s", self._last_error)
        if done:
            self._outbox.remove(done)
            self._counts["acked"] += len(done) - refused
            with self._drained:
                self._drained.notify_all()

    def _refill(self) -> None:
        with self._lock:
            room = self._window - len(self._inflight)
            if room <= 0 or not self._connected.is_set():
                return
            rows = self._outbox.pending_after(self._cursor, room)
            if not rows:
                self._cursor = self._outbox.last_id
                return
            for row in rows:
                payload = row.payload
                if row.boot != self.boot:  # left by an earlier run of the process
                    payload = mark_replayed(payload)
                    self._counts["replayed"] += 1
                self._inflight[self._client.publish(row.topic, payload, qos=1).mid] = row.id
                self._cursor = row.id
        if len(rows) == room:
            self._wake.set()  # more may be waiting once acks free the window
