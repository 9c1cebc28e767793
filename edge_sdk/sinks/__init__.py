"""Where results go once the pipeline has them: MQTT (``edge_sdk.sinks.mqtt``) and JSON lines.

Importing this package does no I/O and pulls in neither paho-mqtt nor the outbox.
"""

from __future__ import annotations

from edge_sdk._lazy import lazy_exports

_EXPORTS = {
    "JSONLinesSink": "edge_sdk.sinks.jsonl",
}

__all__ = ["JSONLinesSink"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
