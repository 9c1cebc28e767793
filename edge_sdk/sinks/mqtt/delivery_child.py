"""The MQTT delivery process: ``python -m edge_sdk.sinks.mqtt.delivery_child <fd>``, started by
:class:`~edge_sdk.sinks.mqtt.process.PublisherProcess`, which explains why it exists.

It runs an :class:`~edge_sdk.sinks.mqtt.link.MQTTLink` and serves the calls of
:data:`~edge_sdk.sinks.mqtt.process.CALLS` that the parent's proxy sends, pickled, on the socket
pair ``<fd>``; it answers with ``reply``, says ``started`` once its outbox is open (or ``failed`` with the cause),
reports connection changes (``status``) and forwards command messages (``command``). ``accept`` calls (results) already in the socket are merged into
one outbox transaction. One thread does all of it: a :class:`~edge_sdk.sinks.mqtt.selector_loop.SelectorLoop`
over the parent's socket and paho's, which also runs the outbox's delivery rounds (a connect attempt
alone gets a short-lived thread). ``flush`` and ``close`` run that loop for paho and the outbox
until they are done; requests sent meanwhile wait in the socket. When the parent is gone without a clean stop (end of file before
``close``: SIGKILL, OOM kill, a crash), it commits what it read and exits at once, ending its MQTT
session so that the broker publishes the last will: subscribers see ``offline``, as after a crash,
never the ``stopped`` of a clean exit. SIGINT and SIGTERM are ignored (systemd and a terminal signal the whole group): the
parent decides when delivery stops, after draining.
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import socket
import struct
import sys
import time
from collections.abc import Sequence
from typing import Any

from edge_sdk._child import child_socket
from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.link import MQTTLink
from edge_sdk.sinks.mqtt.process import CALLS
from edge_sdk.sinks.mqtt.selector_loop import SelectorLoop

__all__ = ["main"]

logger = logging.getLogger(__name__)

_BATCH_MAX = 512  # results committed in one outbox transaction at most
# Group commit: when results come closer than _BUSY_GAP_S (hundreds per second), the first one read
# waits up to _COMMIT_WINDOW_S for more, so one commit and one delivery round serve a few results
# instead of one; at camera rates nothing waits. Durability is unchanged: the parent's results
# count from the commit, and a parent that dies meanwhile leaves them in the socket.
_COMMIT_WINDOW_S = 0.002
_BUSY_GAP_S = 0.005
_READ_BYTES = 1 << 18  # one recv takes what the parent sent meanwhile, many requests at once
_HEADER = struct.Struct("!i")  # multiprocessing.connection's frame: a length (-1: a 64-bit one follows), a pickle
_LONG_HEADER = struct.Struct("!Q")


class _Channel:
    """The parent's socket, in ``multiprocessing.connection``'s framing (the parent uses a
    ``Connection``). Reading is one ``recv`` per wake-up for whatever arrived, cut into requests here:
    ``Connection.poll`` and ``recv`` cost a selector and two system calls per request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.requests: collections.deque[Any] = collections.deque()
        self.eof = False
        self._buffer = bytearray()

    def send(self, message: tuple[Any, ...]) -> None:
        """Call ``message[0]`` on the parent's side (``LinkProxy._callbacks``); nothing if it is gone."""
        body = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        header = _HEADER.pack(len(body)) if len(body) < 0x7FFFFFFF else _HEADER.pack(-1) + _LONG_HEADER.pack(len(body))
        try:
            self.sock.sendall(header + body)
        except OSError:
            pass  # the parent is gone; the loop notices at its next read

    def read_blocking(self) -> Any | None:
        """The next request, waiting for it (the config, before the loop runs); None at end of file."""
        while not self.requests and not self.eof:
            self.on_readable()
        return self.requests.popleft() if self.requests else None

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(_READ_BYTES)
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            (size,) = _HEADER.unpack_from(buffer, start)
            body_at = start + 4
            if size == -1:
                if len(buffer) - body_at < 8:
                    break
                (size,) = _LONG_HEADER.unpack_from(buffer, body_at)
                body_at += 8
            if len(buffer) - body_at < size:
                break
            self.requests.append(pickle.loads(memoryview(buffer)[body_at:body_at + size]))
            start = body_at + size
        del buffer[:start]


def _serve(channel: _Channel) -> int:
    first = channel.read_blocking()
    if first is None:
        return 0  # spawned ahead of time and never configured
    _, config, boot, log_level = first
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    notify = channel.send
    with SelectorLoop() as loop:
        # the outbox belongs to the runtime process: a second run is told that pid, not this one's
        link = MQTTLink(config, boot=boot, on_command_message=lambda topic, payload: notify(("command", topic, payload)),
                        owner_pid=os.getppid(), loop=loop)
        try:
            link.start()
        except PublishError as exc:  # the outbox is locked or unreadable: the parent raises it from start()
            notify(("failed", str(exc), type(exc).__name__))
            return 1
        notify(("started",))
        loop.add_reader(channel.sock, channel.on_readable)
        try:
            return _run(channel, link, loop)
        except Exception as exc:  # reported to the parent, which stops the run with it
            logger.exception("MQTT delivery process failed")
            notify(("failed", f"{type(exc).__name__}: {exc}"))
            link.abort()
            return 1


def _run(channel: _Channel, link: MQTTLink, loop: SelectorLoop) -> int:
    """Serve the parent's requests until ``close`` or end of file, paho and the outbox meanwhile."""
    status: tuple[Any, ...] = ()
    # Results read but not committed yet. Everything already in the socket is read before one
    # commit: when the parent sends faster than one transaction per message, batches form here.
    pending: list[tuple[int, bytes | dict[str, Any]]] = []
    pending_since_s = last_result_s = -float("inf")
    busy = False
    requests = channel.requests
    linger_s = 1.0
    while True:
        loop.run_once(linger_s)
        handled = False
        while requests:
            message = requests.popleft()
            call = CALLS.get(message[0])
            if call is not None and call.batch:
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
            handled = True
            if message is None:
                continue
            name, request, args, kwargs = message
            if name == "close":
                link.close(*args)
                channel.send(("closed", link.stats()))
                return 0
            if name not in CALLS:
                raise PublishError(f"unknown request from the runtime process: {name!r}")
            value = getattr(link, name)(*args, **kwargs)
            if request is not None:
                channel.send(("reply", request, value))
        if channel.eof:
            # the parent died: all it sent is read by now; commit it and go without waiting, as
            # the crash it is (offline), so that Home Assistant tells it from a clean stop
            link.accept(pending, strict=False)
            logger.warning("the runtime process is gone without stopping delivery: %d results stay in the "
                           "outbox for the next run; availability goes offline", link.pending)
            link.abort()
            return 0
        linger_s = 1.0
        if pending:
            # group commit under load: results came less than _BUSY_GAP_S apart, so wait for more
            # until _COMMIT_WINDOW_S after the first one read; at camera rates, no wait
            linger_s = max(0.0, pending_since_s + _COMMIT_WINDOW_S - time.monotonic()) if busy else 0.0
            if linger_s == 0.0:
                link.accept(pending, strict=False)
                pending = []
                handled = True
                linger_s = 1.0
        if handled:
            loop.service()  # send what was just committed (and what the calls queued) now, not after a wait
        now = (link.state.value, link.connected, str(link.last_error or "") or None)
        if now != status:
            status = now
            channel.send(("status", *now))


def main(argv: Sequence[str] | None = None) -> int:
    sock = child_socket(argv, "edge_sdk.sinks.mqtt.delivery_child", "PublisherProcess")
    if sock is None:
        return 2
    import paho.mqtt.client  # noqa: F401 - loaded while the parent is still busy, before the config comes

    with sock:
        return _serve(_Channel(sock))


if __name__ == "__main__":
    sys.exit(main())
