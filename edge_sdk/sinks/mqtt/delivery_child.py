"""The MQTT delivery process: ``python -m edge_sdk.sinks.mqtt.delivery_child <fd>``, started by
:class:`~edge_sdk.sinks.mqtt.process.PublisherProcess`, which explains why it exists.

It runs an :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher` and serves the parent's requests,
pickled tuples on the socket pair ``<fd>``: ``results`` (stamped dicts: encoded and committed
here), ``stats``, ``raw``, ``announce``, ``flush``, ``stats_request``, ``close``. It tells the
parent about connection changes (``status``), forwards command messages (``command``) and answers
(``reply``). When the parent is gone (end of file), it commits what it read and exits at once.
SIGINT and SIGTERM are ignored (systemd and a terminal signal the whole group): the parent
decides when delivery stops, after draining.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.payload import encode
from edge_sdk.sinks.mqtt.publisher import MQTTPublisher

__all__ = ["main"]

logger = logging.getLogger(__name__)

_STATUS_POLL_S = 0.05  # how often to look for connection changes when no message comes
_BATCH_MAX = 512  # results committed in one outbox transaction at most


def _serve(conn: Connection) -> int:
    try:
        _, config, boot, log_level = conn.recv()
    except EOFError:
        return 0  # spawned ahead of time and never configured
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        try:
            with send_lock:
                conn.send(message)
        except OSError:
            pass  # the parent is gone; the loop below notices at its next read

    publisher = MQTTPublisher(config, boot=boot, command_sink=lambda topic, payload: send(("command", topic, payload)))
    publisher.start()
    status: tuple[Any, ...] = ()
    # Results read but not committed yet. Everything already in the socket is read before one
    # commit: when the parent sends faster than one transaction per message, batches form here.
    pending: list[tuple[int, dict[str, Any]]] = []
    try:
        while True:
            now = (publisher.state.value, publisher.connected, str(publisher.last_error or "") or None)
            if now != status:
                status = now
                send(("status", *now))
            try:
                if pending:
                    message = conn.recv() if conn.poll(0) else None
                elif conn.poll(_STATUS_POLL_S):
                    message = conn.recv()
                else:
                    continue
            except (EOFError, OSError):
                # the parent died: all it sent is read by now; commit it and go without waiting
                _accept(publisher, pending)
                logger.warning("the runtime process is gone: %d results stay in the outbox for the next run",
                               publisher.pending)
                publisher.close(drain_timeout_s=0.0)
                return 0
            if message is not None and message[0] == "results":
                pending += message[1]
                if len(pending) < _BATCH_MAX:
                    continue
                message = None
            if pending:
                _accept(publisher, pending)
                pending = []
            if message is None:
                continue
            if message[0] == "close":
                publisher.close(drain_timeout_s=message[1])
                send(("closed", publisher.stats()))
                return 0
            _handle(publisher, message, send)
    except Exception as exc:  # reported to the parent, which stops the run with it
        logger.exception("MQTT delivery process failed")
        send(("failed", f"{type(exc).__name__}: {exc}"))
        publisher.close(drain_timeout_s=0.0)
        return 1


def _accept(publisher: MQTTPublisher, results: list[tuple[int, dict[str, Any]]]) -> None:
    encoded = []
    for seq, payload in results:
        try:
            encoded.append((seq, encode(payload)))
        except (TypeError, ValueError) as exc:
            publisher.count("unencodable")
            logger.error("result seq %d is not JSON (%s); not published", seq, exc)
    publisher.publish_stamped(encoded)


def _handle(publisher: MQTTPublisher, message: tuple[Any, ...], send: Callable[[tuple[Any, ...]], None]) -> None:
    kind = message[0]
    if kind == "stats":
        _, body, commands, last_rejection = message
        mqtt = publisher.stats()
        mqtt["commands"], mqtt["last_command_rejection"] = commands, last_rejection
        body["mqtt"] = mqtt
        publisher.publish_stats(body)
    elif kind == "raw":
        _, topic, payload, qos, retain = message
        publisher.publish_raw(topic, payload, qos=qos, retain=retain)
    elif kind == "announce":
        publisher.announce_homeassistant(mcu=message[1], host=message[2])
    elif kind == "flush":
        send(("reply", message[1], publisher.flush(message[2])))
    elif kind == "stats_request":
        send(("reply", message[1], publisher.stats()))
    else:
        raise PublishError(f"unknown request from the runtime process: {kind!r}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        sys.stderr.write("usage: python -m edge_sdk.sinks.mqtt.delivery_child <socket fd> (started by PublisherProcess)\n")
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.set_inheritable(int(args[0]), False)
    import paho.mqtt.client  # noqa: F401 - loaded while the parent is still busy, before the config comes

    return _serve(Connection(int(args[0])))


if __name__ == "__main__":
    sys.exit(main())
