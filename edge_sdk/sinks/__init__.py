"""Where results go once the pipeline has them: MQTT (``edge_sdk.sinks.mqtt``) and JSON lines.

Every sink is a :class:`~edge_sdk.sinks.base.ResultSink`; the MQTT ones are also an
:class:`~edge_sdk.sinks.base.MQTTSink` (what the runtime uses: commands, raw topics, stats sections).

Importing this package does no I/O and pulls in neither paho-mqtt nor the outbox.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "JSONLinesSink": "edge_sdk.sinks.jsonl",
    "MQTTSink": "edge_sdk.sinks.base",
    "ResultSink": "edge_sdk.sinks.base",
}

__all__ = ["JSONLinesSink", "MQTTSink", "ResultSink"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
