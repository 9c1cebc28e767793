"""``MQTTPublisher``: results to an MQTT broker, at least once, without blocking the inference loop.

Two halves::

    this process:  publish_result() ─▶ encode, stamp (boot, seq) ─▶ link.accept()   command handlers
    the link:      outbox (committed) ─▶ paho (QoS 1) ─▶ PUBACK                 cmd/+ messages ─▶ back here

The publisher is the half that stays with the caller: it stamps each result, so
``publish_result`` returns its ``seq`` at once, runs the command handlers (on the
``edge_sdk-mqtt-commands`` thread) and collects the stats sections (callables of this process).
Delivery is an :class:`~edge_sdk.sinks.mqtt.link.MQTTLink`: here it runs in threads of this
process; :class:`~edge_sdk.sinks.mqtt.process.PublisherProcess` is this same class talking to a
link in a child process instead. ``publish_result`` does no network I/O and never waits for the
broker (see ``link.py`` for the data path).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.commands import CommandHandler, CommandRouter, PayloadFormat
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.homeassistant import HomeAssistantDiscovery, HostInfo, McuInfo, TaskInfo
from edge_sdk.sinks.mqtt.link import ACCEPTING, MQTTLink, PublisherState
from edge_sdk.sinks.mqtt.payload import ResultStamper, Stamped, encode
from edge_sdk.sinks.mqtt.topics import Topics

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Link", "MQTTPublisher", "PublisherState", "add_stats_sections"]

logger = logging.getLogger(__name__)


def add_stats_sections(body: dict[str, Any], sections: Mapping[str, Callable[[], Mapping[str, Any]]]) -> int:
    """Add each ``section()`` to ``body`` under its name unless already there; return how many failed
    (logged: a broken section must not stop the stats)."""
    failed = 0
    for name, section in sections.items():
        if name not in body:
            try:
                body[name] = dict(section())
            except Exception:
                failed += 1
                logger.exception("stats section %r failed", name)
    return failed


class Link(Protocol):
    """What the publisher needs from delivery: :class:`MQTTLink`, or its proxy in ``process.py``."""

    client_id: str
    discovery: HomeAssistantDiscovery | None

    @property
    def state(self) -> PublisherState: ...

    @property
    def connected(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    @property
    def last_error(self) -> PublishError | None: ...

    def start(self) -> None: ...

    def wait_connected(self, timeout_s: float) -> None: ...

    def flush(self, timeout_s: float) -> bool: ...

    def close(self, drain_timeout_s: float | None = None) -> None: ...

    def accept(self, stamped: Sequence[Stamped]) -> None: ...

    def publish_stats(self, body: dict[str, Any], mqtt_extra: Mapping[str, Any] | None = None) -> bool: ...

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool: ...

    def announce_homeassistant(self, mcu: McuInfo | None = None, host: HostInfo | None = None,
                               task: TaskInfo | None = None) -> bool: ...

    def stats(self) -> dict[str, Any]: ...


class MQTTPublisher:
    """Publishes results, stats and availability for one device; receives its commands.

    >>> with MQTTPublisher(MQTTConfig(device_id="pi-kitchen", host="broker.lan")) as publisher:
    ...     publisher.on_command("prompt", set_prompt, payload_format="text")
    ...     seq = publisher.publish_result({"ts": time.time(), "label": "left", "confidence": 0.9})
    """

    def __init__(self, config: MQTTConfig, *, boot: str | None = None) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix, config.device_id)
        self._stamper = ResultStamper(config.device_id, boot)
        self._router = CommandRouter(
            self.topics, max_payload_bytes=config.command_max_bytes, queue_size=config.command_queue_size
        )
        self._sections: dict[str, Callable[[], Mapping[str, Any]]] = {}
        self._lock = threading.Lock()  # seq order == the order the link gets them
        self._link = self._make_link()

    def _make_link(self) -> Link:
        """Delivery in threads of this process; :class:`PublisherProcess` returns a proxy instead."""
        return MQTTLink(self.config, boot=self.boot, on_command_message=self._router.on_message)

    @property
    def boot(self) -> str:
        """Random id of this process start; with ``seq`` it identifies each result."""
        return self._stamper.boot

    @property
    def client_id(self) -> str:
        return self._link.client_id

    @property
    def state(self) -> PublisherState:
        return self._link.state

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def pending(self) -> int:
        """Results in the outbox, not acknowledged yet."""
        return self._link.pending

    @property
    def last_error(self) -> PublishError | None:
        """The latest connection or delivery problem (kept after recovery, for the record)."""
        return self._link.last_error

    @property
    def discovery(self) -> HomeAssistantDiscovery | None:
        """The Home Assistant discovery configs announced, when enabled (None in :class:`PublisherProcess`:
        the child process holds them)."""
        return self._link.discovery

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Open the outbox and start connecting in the background; returns at once."""
        self._link.start()
        self._router.start()
        return self

    def wait_connected(self, timeout_s: float) -> None:
        """Block until connected; raise :class:`PublishError` with the last failure on timeout."""
        self._link.wait_connected(timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged everything in the outbox; False on timeout."""
        return self._link.flush(timeout_s)

    def close(self, drain_timeout_s: float | None = None) -> None:
        """Deliver what can be delivered within ``drain_timeout_s`` (default: the config's), say
        ``stopped``, disconnect; idempotent."""
        self._link.close(drain_timeout_s)
        self._router.close()

    def __enter__(self) -> Self:
        if self.state is PublisherState.CREATED:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- publishing ------------------------------------------------------------------------------

    def publish_result(self, result: Mapping[str, Any]) -> int:
        """Stamp, persist and queue one result; return its ``seq``. Never waits for the network.

        ``result`` is the JSON-ready result without ``seq``, ``boot`` and ``replayed``. When this
        returns, the result is committed to the outbox (it survives a crash of the process). When
        the outbox is full under ``reject_new`` the result is counted as rejected, not raised.
        """
        return self.publish_results((result,))[0]

    def publish_results(self, results: Sequence[Mapping[str, Any]]) -> list[int]:
        """:meth:`publish_result` for a burst: one outbox transaction and one wake-up for all."""
        state = self._link.state
        if state not in ACCEPTING:
            raise PublishError(f"publish_result needs a started publisher. State: {state.value}")
        if not results:
            return []
        stamper = self._stamper
        # a wrong key or a payload that is not JSON (NaN) raises here, before any seq is taken; each
        # payload is encoded once (an EncodedPayload the run already checked: not at all) and the
        # stamp written around its JSON, so the link, the outbox and the retained copy share the bytes
        checked = [(result, stamper.check(result), encode(result)) for result in results]
        with self._lock:
            first = stamper.next_seq(len(checked))
            stamped = [(seq, stamper.stamp_encoded(result, schema, body, seq))
                       for seq, (result, schema, body) in enumerate(checked, first)]
            self._link.accept(stamped)
        return list(range(first, first + len(stamped)))

    def publish_stats(self, stats: Mapping[str, Any]) -> bool:
        """Publish on the stats topic (QoS 0, dropped while disconnected) with this process's
        sections and an ``mqtt`` section; True when sent."""
        body = dict(stats)
        add_stats_sections(body, self._sections)
        return self._link.publish_stats(body, self._command_stats())

    def publish_durable(self, topic: str, payload: bytes, seq: int) -> None:
        """Commit JSON ``payload`` to the outbox and deliver it on ``topic`` (relative to the device, or
        absolute) at least once, like a result: through outages and restarts (a replay gets
        ``"replayed": true``). ``seq`` is the caller's own stream's (a description's), stored with it."""
        state = self._link.state
        if state not in ACCEPTING:
            raise PublishError(f"publish_durable needs a started publisher. State: {state.value}")
        self._link.accept([(seq, payload, topic)])

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        """Send bytes as they are, outside the outbox (e.g. dashboard snapshots); True when sent now.
        While disconnected a retained message waits, the newest per topic, for the next connect; any
        other is dropped (counted). ``topic`` is relative to the device (``snapshot``) or absolute when
        it starts with the topic prefix."""
        return self._link.publish_raw(topic, payload, qos=qos, retain=retain)

    def add_stats_section(self, name: str, section: Callable[[], Mapping[str, Any]]) -> None:
        """Add ``section()`` under ``name`` to every stats message (e.g. ``actions``, ``bridge``)."""
        self._sections[name] = section

    def announce_homeassistant(self, *, mcu: McuInfo | None = None, host: HostInfo | None = None,
                               task: TaskInfo | None = None) -> bool:
        """Set the MCU (and host, and the served model's task) shown in Home Assistant and announce again
        when connected. Returns False, doing nothing, when ``mqtt.homeassistant.enabled`` is off.
        """
        if not self.config.homeassistant.enabled:
            return False
        self._link.announce_homeassistant(mcu, host, task)
        return True

    def on_command(self, name: str, handler: CommandHandler, payload_format: PayloadFormat = "json") -> None:
        """Run ``handler`` in this process, on the command thread, for each valid message on ``cmd/<name>``."""
        self._router.register(name, handler, payload_format)

    def stats(self) -> dict[str, Any]:
        return {**self._link.stats(), **self._command_stats()}

    def _command_stats(self) -> dict[str, Any]:
        return {"commands": self._router.stats(), "last_command_rejection": self._router.last_rejection}
