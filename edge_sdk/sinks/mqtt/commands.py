"""Commands arriving on ``<prefix>/<device>/cmd/<name>``: validated, then run on a dispatcher thread.

Validation happens on the network thread (cheap: size, name, decoding); handlers run on a named
dispatcher thread so a slow or failing handler never stalls acknowledgements of results. Every
rejected message and every handler failure is logged and counted; none stops the run.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edge_sdk.sinks.mqtt.topics import Topics

__all__ = ["CommandHandler", "CommandRouter", "PayloadFormat"]

logger = logging.getLogger(__name__)

PayloadFormat = Literal["json", "text", "bytes"]
CommandHandler = Callable[[Any], None]
_STOP = object()


@dataclass(frozen=True)
class _Route:
    handler: CommandHandler
    payload_format: PayloadFormat


class CommandRouter:
    """Routes command messages to handlers registered by name."""

    def __init__(self, topics: Topics, *, max_payload_bytes: int = 65_536, queue_size: int = 64) -> None:
        self.topics = topics
        self.max_payload_bytes = max_payload_bytes
        self._routes: dict[str, _Route] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._counts = {"received": 0, "handled": 0, "rejected": 0, "failed": 0, "dropped": 0}
        self.last_rejection: str | None = None

    def register(self, name: str, handler: CommandHandler, payload_format: PayloadFormat = "json") -> None:
        """``handler`` gets the parsed JSON value, the UTF-8 text, or the raw bytes."""
        if not Topics.valid_command_name(name):
            raise ValueError(f"command name must be 1-64 letters, digits, '_' or '-'. Got: {name!r}")
        if payload_format not in ("json", "text", "bytes"):
            raise ValueError(f"payload_format must be 'json', 'text' or 'bytes'. Got: {payload_format!r}")
        self._routes[name] = _Route(handler, payload_format)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edge_sdk-mqtt-commands", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            logger.warning("command queue still full at close; %d commands not run", self._queue.qsize())
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning("a command handler is still running after %.1f s; leaving it", timeout_s)

    def stats(self) -> dict[str, int]:
        return dict(self._counts)

    # Called on the paho network thread: keep it short and never raise into paho.
    def on_message(self, topic: str, payload: bytes) -> None:
        self._counts["received"] += 1
        name = self.topics.command_name(topic)
        if name is None:
            self._reject(topic, "expected a topic <prefix>/<device>/cmd/<name> with a valid name")
            return
        route = self._routes.get(name)
        if route is None:
            self._reject(topic, f"no handler for command {name!r}. Known commands: {sorted(self._routes) or 'none'}")
            return
        if len(payload) > self.max_payload_bytes:
            self._reject(topic, f"payload is {len(payload)} bytes; expected at most {self.max_payload_bytes}")
            return
        try:
            value = _decode(payload, route.payload_format)
        except ValueError as exc:
            self._reject(topic, str(exc))
            return
        try:
            self._queue.put_nowait((name, route.handler, value))
        except queue.Full:
            # reject_new: the commands already queued arrived first and are still meaningful.
            self._counts["dropped"] += 1
            logger.warning("command %s dropped: %d commands already waiting", name, self._queue.qsize())

    def _reject(self, topic: str, reason: str) -> None:
        self._counts["rejected"] += 1
        self.last_rejection = f"{topic}: {reason}"
        logger.warning("rejected command on %s: %s", topic, reason)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            name, handler, value = item
            try:
                handler(value)
            except Exception:  # a user handler: log and count, never end the dispatcher
                self._counts["failed"] += 1
                logger.exception("command handler for %r failed", name)
            else:
                self._counts["handled"] += 1


def _decode(payload: bytes, payload_format: PayloadFormat) -> Any:
    if payload_format == "bytes":
        return payload
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"expected UTF-8 text. Got: invalid byte at position {exc.start}") from None
    if payload_format == "text":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected JSON. Got: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
