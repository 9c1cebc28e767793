"""The interfaces of a sink: what the pipeline calls (:class:`ResultSink`) and what the runtime calls (:class:`MQTTSink`).

Typing only, no I/O. Implementations: :class:`~edge_sdk.sinks.jsonl.JSONLinesSink` (a
``ResultSink``), :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher` (delivery in threads) and
:class:`~edge_sdk.sinks.mqtt.process.PublisherProcess` (delivery in a child process), both
``MQTTSink``. Both protocols are ``runtime_checkable``: ``isinstance`` checks the names, not the
signatures (mypy checks those).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from edge_sdk.sinks.mqtt.commands import CommandHandler, PayloadFormat
    from edge_sdk.sinks.mqtt.homeassistant import HostInfo, McuInfo, TaskInfo
    from edge_sdk.sinks.mqtt.topics import Topics

__all__ = ["MQTTSink", "ResultSink"]


@runtime_checkable
class ResultSink(Protocol):
    """What the pipeline publishes to.

    Optional members, used when present:

    * ``publish_results(results) -> list[int]``: a burst in one call (else ``publish_result`` per result);
    * ``publish_stamped(results, stamps) -> int``: take results the run has already stamped,
      ``stamps[i] == (boot, seq)`` of ``results[i]``, and return how many were taken. Sinks without it
      stamp results themselves (the MQTT publishers); the pipeline hands their ``(boot, seq)`` to the
      others, so every sink carries the same stamp for the same result (see ``edge_sdk.pipeline.fanout``);
    * ``stats() -> dict``: its counters, printed as they are in the run's summary; an ``accepted``
      of 0 after a run that produced results fails the run;
    * ``sink_name``: how the summary and the stats call it (default: ``mqtt`` for an ``MQTTSink``, else
      the class name).
    """

    def publish_result(self, result: Mapping[str, Any]) -> int:
        """Stamp and take one result (``edge_sdk.result/1`` without ``seq``/``boot``); return its ``seq``."""
        ...

    def publish_stats(self, stats: Mapping[str, Any]) -> bool:
        """Send a stats object if the sink can now; False when it was dropped (never raises for that)."""
        ...

    def close(self) -> None:
        """Deliver what can be delivered and release everything; idempotent."""
        ...


@runtime_checkable
class MQTTSink(ResultSink, Protocol):
    """A ``ResultSink`` with a broker behind it: what the runtime, the dashboard and the demo use."""

    topics: Topics

    @property
    def boot(self) -> str: ...

    def publish_results(self, results: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool: ...

    def publish_durable(self, topic: str, payload: bytes, seq: int) -> None: ...

    def on_command(self, name: str, handler: CommandHandler, payload_format: PayloadFormat = "json") -> None: ...

    def add_stats_section(self, name: str, section: Callable[[], Mapping[str, Any]]) -> None: ...

    def announce_homeassistant(self, *, mcu: McuInfo | None = None, host: HostInfo | None = None,
                               task: TaskInfo | None = None) -> bool: ...

    def wait_connected(self, timeout_s: float) -> None: ...

    def flush(self, timeout_s: float) -> bool: ...

    def stats(self) -> dict[str, Any]: ...
