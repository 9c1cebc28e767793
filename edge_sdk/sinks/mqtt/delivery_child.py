"""The MQTT delivery process: ``python -m edge_sdk.sinks.mqtt.delivery_child <fd>``, started by
:class:`~edge_sdk.sinks.mqtt.process.PublisherProcess`, which explains why it exists.

It runs an :class:`~edge_sdk.sinks.mqtt.link.MQTTLink` and serves the calls of
:data:`~edge_sdk.sinks.mqtt.process.CALLS` that the parent's proxy sends, pickled, on the socket
pair ``<fd>``; it answers with ``reply``, says ``started`` once its outbox is open (or ``failed`` with the cause),
reports connection changes (``status``) and forwards command messages (``command``). ``accept`` calls (results) already in the socket are merged into
one outbox transaction. When the parent is gone without a clean stop (end of file before
``close``: SIGKILL, OOM kill, a crash), it commits what it read and exits at once, ending its MQTT
session so that the broker publishes the last will: subscribers see ``offline``, as after a crash,
never the ``stopped`` of a clean exit. SIGINT and SIGTERM are ignored (systemd and a terminal signal the whole group): the
parent decides when delivery stops, after draining.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.link import MQTTLink
from edge_sdk.sinks.mqtt.process import CALLS

__all__ = ["main"]

logger = logging.getLogger(__name__)

_STATUS_POLL_S = 0.05  # how often to look for connection changes when no message comes
_BATCH_MAX = 512  # results committed in one outbox transaction at most
# Group commit: when results come closer than _BUSY_GAP_S (hundreds per second), the first one read
# waits up to _COMMIT_WINDOW_S for more, so one commit and one wake-up of the outbox thread serve a
# few results instead of one; at camera rates nothing waits. Durability is unchanged: the parent's
# results count from the commit, and a parent that dies meanwhile leaves them in the socket.
_COMMIT_WINDOW_S = 0.002
_BUSY_GAP_S = 0.005


def _serve(conn: Connection) -> int:
    try:
        _, config, boot, log_level = conn.recv()
    except EOFError:
        return 0  # spawned ahead of time and never configured
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    send_lock = threading.Lock()

    def notify(name: str, *args: Any) -> None:
        """Call ``name`` on the parent's side (``LinkProxy._callbacks``)."""
        try:
            with send_lock:
                conn.send((name, *args))
        except OSError:
            pass  # the parent is gone; the loop below notices at its next read

    # the outbox belongs to the runtime process: a second run is told that pid, not this one's
    link = MQTTLink(config, boot=boot, on_command_message=lambda topic, payload: notify("command", topic, payload),
                    owner_pid=os.getppid())
    try:
        link.start()
    except PublishError as exc:  # the outbox is locked or unreadable: the parent raises it from start()
        notify("failed", str(exc), type(exc).__name__)
        return 1
    notify("started")
    status: tuple[Any, ...] = ()
    # Results read but not committed yet. Everything already in the socket is read before one
    # commit: when the parent sends faster than one transaction per message, batches form here.
    pending: list[tuple[int, bytes | dict[str, Any]]] = []
    pending_since_s = last_result_s = -float("inf")
    busy = False
    try:
        while True:
            now = (link.state.value, link.connected, str(link.last_error or "") or None)
            if now != status:
                status = now
                notify("status", *now)
            try:
                if pending:
                    # group commit under load: results came less than _BUSY_GAP_S apart, so wait for
                    # more until _COMMIT_WINDOW_S after the first one read; at camera rates, no wait
                    linger_s = max(0.0, pending_since_s + _COMMIT_WINDOW_S - time.monotonic()) if busy else 0.0
                    message = conn.recv() if conn.poll(linger_s) else None
                elif conn.poll(_STATUS_POLL_S):
                    message = conn.recv()
                else:
                    continue
            except (EOFError, OSError):
                # the parent died: all it sent is read by now; commit it and go without waiting, as
                # the crash it is (offline), so that Home Assistant tells it from a clean stop
                link.accept(pending, strict=False)
                logger.warning("the runtime process is gone without stopping delivery: %d results stay in the "
                               "outbox for the next run; availability goes offline", link.pending)
                link.abort()
                return 0
            if message is not None and message[0] in CALLS and CALLS[message[0]].batch:
                if not pending:
                    pending_since_s = time.monotonic()
                    busy, last_result_s = pending_since_s - last_result_s < _BUSY_GAP_S, pending_since_s
                pending += message[2][0]  # accept(stamped): the one batched call
                if len(pending) < _BATCH_MAX:
                    continue
                message = None
            if pending:
                # the parent cannot take a NaN back now (it has its seq): logged and counted instead
                link.accept(pending, strict=False)
                pending = []
            if message is None:
                continue
            name, request, args, kwargs = message
            if name == "close":
                link.close(*args)
                notify("closed", link.stats())
                return 0
            if name not in CALLS:
                raise PublishError(f"unknown request from the runtime process: {name!r}")
            value = getattr(link, name)(*args, **kwargs)
            if request is not None:
                notify("reply", request, value)
    except Exception as exc:  # reported to the parent, which stops the run with it
        logger.exception("MQTT delivery process failed")
        notify("failed", f"{type(exc).__name__}: {exc}")
        link.abort()
        return 1


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
