"""``PublisherProcess``: the MQTT publisher and its outbox in a child process of their own.

Why a process: Python threads share one interpreter lock. At hundreds of results per second,
paho-mqtt's per-message work (about 95 us of CPU here, half of it building reason-code and
property objects for each PUBACK) and the outbox's SQLite commits took as much interpreter time as
the inference worker, which then waited for the lock after each OpenCV and TFLite call. In a
child process, delivery runs on another core with its own lock: 1.3-1.5x the results per second
of delivery threads on 2 cores, but 0.7-0.8x pinned to one core, where the two processes take
turns (``mqtt.delivery: auto`` chooses by the CPUs the runtime may use; ``make bench-runtime``).

``PublisherProcess`` *is* :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher`: the parent stamps
``(boot, seq)``, so :meth:`publish_results` returns the sequence numbers at once, and runs the
command handlers. Only its link is different: a :class:`LinkProxy` that forwards the calls named in
:data:`CALLS` to the same :class:`~edge_sdk.sinks.mqtt.link.MQTTLink` running in the child. Results
cross the socket pair as the stamped messages' JSON, encoded once in the parent (the run's JSON check
already made it: see ``payload.py``), pickled as bytes (a fraction of a microsecond a result, against
about 1 us for a dict, and the child then had to encode it again); the child commits them to the
outbox and sends. A payload that is not JSON (NaN) raises in the parent, as with delivery threads;
what the child still cannot encode (a stamped dict from an older caller) it logs and counts
(``unencodable``).

Delivery guarantee: a result is durable once the child has committed it. If the parent dies, the
child reads what is left in the socket (the kernel keeps it after the writer is gone), commits it
and exits at once without waiting for the broker, so a restarted runtime finds the outbox free and
replays those results, marked. It leaves as the crash it is: the broker publishes the last will
(``offline``), not the ``stopped`` of a clean :meth:`LinkProxy.close` (``MQTTLink.abort``). What a SIGKILL of *both* processes loses is what sat in memory or in
the socket, like the dispatcher's queue before.

The child is ``python -m edge_sdk.sinks.mqtt.delivery_child <fd>`` (see that module), not a
``multiprocessing`` spawn, which would re-run the user's ``__main__`` script. It runs one thread, a
selector loop over this socket and paho's (``selector_loop.py``): no paho network thread, no
outbox thread, no hand-offs between them.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.homeassistant import HomeAssistantDiscovery
from edge_sdk.sinks.mqtt.link import PublisherState
from edge_sdk.sinks.mqtt.outbox import OutboxInUseError
from edge_sdk.sinks.mqtt.publisher import Link, MQTTPublisher

__all__ = ["CALLS", "Call", "DeliveryChild", "LinkProxy", "PublisherProcess"]

logger = logging.getLogger(__name__)

_RPC_TIMEOUT_S = 5.0
_START_TIMEOUT_S = 30.0  # a spawned child may still be importing paho (about 0.5 s on a Pi)
_FAILED = "the MQTT delivery process failed: "


@dataclass(frozen=True)
class Call:
    """How one :class:`~edge_sdk.sinks.mqtt.link.MQTTLink` method crosses the socket."""

    reply: bool = False  # wait for the child's answer; else answer at once (see LinkProxy._forward)
    batch: bool = False  # the child merges consecutive calls before running one (one outbox transaction)
    timeout_arg: bool = False  # the first argument is a timeout the child may use up: wait that much more


# The one table of calls across the socket: the parent forwards these, the child runs only these.
CALLS: dict[str, Call] = {
    "accept": Call(batch=True),
    "publish_stats": Call(),
    "publish_raw": Call(),
    "announce_homeassistant": Call(),
    "flush": Call(reply=True, timeout_arg=True),
    "stats": Call(reply=True),
}


def _forwarded(name: str) -> Callable[..., Any]:
    call = CALLS[name]

    def method(self: LinkProxy, *args: Any, **kwargs: Any) -> Any:
        return self._forward(name, call, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``MQTTLink.{name}`` in the delivery process."
    return method


@dataclass(frozen=True)
class DeliveryChild:
    """A started delivery process waiting for its configuration."""

    process: subprocess.Popen[bytes]
    conn: Connection

    def close(self) -> None:
        """Never configured after all: end it (it exits on end of file)."""
        self.conn.close()
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5.0)


def spawn() -> DeliveryChild:
    """Start a delivery process now, to be configured later by ``PublisherProcess(..., child=)``:
    the interpreter and paho load (about half a second on a Pi) while the caller loads its model."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_sdk.sinks.mqtt.delivery_child", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        ours.close()
        raise PublishError(f"cannot start the MQTT delivery process ({sys.executable}): {exc}") from exc
    finally:
        theirs.close()
    return DeliveryChild(process, Connection(ours.detach()))


class LinkProxy:
    """An :class:`~edge_sdk.sinks.mqtt.link.MQTTLink` in the delivery process, as the publisher sees it.

    Parent to child: ``(name, request id or None, args, kwargs)`` for the names in :data:`CALLS`,
    after one ``("config", config, boot, log level)``. Child to parent: ``(name, *args)`` for the
    names in ``self._callbacks``: connection ``status``, ``command`` messages, ``reply``,
    ``closed`` (final stats) and ``failed``.
    """

    discovery: HomeAssistantDiscovery | None = None  # the child's link holds it

    def __init__(self, config: MQTTConfig, *, boot: str, on_command_message: Callable[[str, bytes], None],
                 child: DeliveryChild | None = None) -> None:
        # the client id is chosen here so that this process knows it too
        self.config = dataclasses.replace(config, client_id=config.make_client_id())
        self.client_id = self.config.make_client_id()
        self._boot = boot
        self._spawned = child
        self._conn: Connection | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._connected = threading.Event()
        self._state = PublisherState.CREATED
        self._last_error: str | None = None
        self._failure: str | None = None  # the child failed or vanished: every call raises this
        self._closing = False
        self._requests = itertools.count(1)
        self._replies: dict[int, Any] = {}
        self._reply_ready = threading.Condition()
        self._final_stats: dict[str, Any] = {}
        self._callbacks: dict[str, Callable[..., None]] = {
            "status": self._on_status, "command": on_command_message, "reply": self._on_reply,
            "closed": self._on_closed, "failed": self._on_failed, "started": lambda: self._started.set(),
        }
        self._started = threading.Event()  # the child opened its outbox, or failed (then _failure says why)
        self._failure_kind: str | None = None

    accept = _forwarded("accept")
    publish_stats = _forwarded("publish_stats")
    publish_raw = _forwarded("publish_raw")
    announce_homeassistant = _forwarded("announce_homeassistant")
    flush = _forwarded("flush")
    _stats = _forwarded("stats")

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pending(self) -> int:
        return int(self.stats()["outbox"]["pending"])

    @property
    def last_error(self) -> PublishError | None:
        return PublishError(self._last_error) if self._last_error else None

    def stats(self) -> dict[str, Any]:
        try:
            stats = dict(self._stats())
        except PublishError:
            stats = dict(self._final_stats) or {"state": self._state.value, "connected": False}
        stats["state"] = self._state.value if self._failure or self._closing else stats.get("state")
        stats["delivery_pid"] = self._child.pid if self._child is not None else None
        return stats

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._state is not PublisherState.CREATED:
            raise PublishError(f"start() needs a new publisher. State: {self._state.value}")
        spawned, self._spawned = self._spawned or spawn(), None
        self._child, self._conn = spawned.process, spawned.conn
        self._send(("config", self.config, self._boot, logging.getLogger().getEffectiveLevel()))
        self._state = PublisherState.CONNECTING
        self._reader = threading.Thread(target=self._read, name="edge_sdk-mqtt-process-reader", daemon=True)
        self._reader.start()
        # wait for the outbox to open: a second run for the same device is told here, in one line
        if not self._started.wait(_START_TIMEOUT_S):
            self._fail(f"the MQTT delivery process did not start within {_START_TIMEOUT_S:g} s")
        if self._failure is not None:
            self.close()
            failure = self._failure.removeprefix(_FAILED)
            raise (OutboxInUseError if self._failure_kind == OutboxInUseError.__name__ else PublishError)(failure)
        logger.info("MQTT delivery for %s runs in process %d (boot %s)", self.config.device_id, self._child.pid,
                    self._boot)

    def wait_connected(self, timeout_s: float) -> None:
        if self._connected.wait(timeout_s):
            return
        where = f"{self.config.host}:{self.config.effective_port}"
        cause = self._failure or self._last_error or "no answer yet"
        raise PublishError(f"not connected to MQTT broker {where} after {timeout_s} s. Last error: {cause}")

    def close(self, drain_timeout_s: float | None = None) -> None:
        """The child delivers for up to ``drain_timeout_s``, says ``stopped`` and exits; idempotent."""
        if self._closing or self._child is None:
            if self._spawned is not None:  # handed over but never started
                self._spawned.close()
                self._spawned = None
            self._state = PublisherState.CLOSED
            return
        self._closing = True
        self._state = PublisherState.CLOSING
        drain_s = self.config.drain_timeout_s if drain_timeout_s is None else drain_timeout_s
        child = self._child
        try:
            self._send(("close", None, (drain_s,), {}))
        except PublishError:
            pass  # already gone: nothing to ask
        try:
            child.wait(drain_s + 10.0)
        except subprocess.TimeoutExpired:
            logger.error("MQTT delivery process %d did not stop; killing it (its outbox keeps the results)",
                         child.pid)
            child.kill()
            child.wait(5.0)
        if self._reader is not None:
            self._reader.join(2.0)
        if self._conn is not None:
            self._conn.close()
        self._connected.clear()
        self._state = PublisherState.CLOSED

    # -- talking to the child --------------------------------------------------------------------

    def _forward(self, name: str, call: Call, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not call.reply:
            self._send((name, None, args, kwargs))
            # the child answers nothing, to keep the caller from waiting: say what it will likely
            # answer (publish_stats, publish_raw: sent only while connected; it counts what it drops)
            return self._connected.is_set()
        wait_s = _RPC_TIMEOUT_S + (float(args[0]) if call.timeout_arg else 0.0)
        request = next(self._requests)
        self._send((name, request, args, kwargs))
        with self._reply_ready:
            if not self._reply_ready.wait_for(lambda: request in self._replies or self._failure is not None, wait_s):
                raise PublishError(f"the MQTT delivery process did not answer {name!r} within {wait_s:g} s")
            if request not in self._replies:
                raise PublishError(self._failure or "the MQTT delivery process is gone")
            return self._replies.pop(request)

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._failure is not None:
            raise PublishError(self._failure)
        if self._conn is None:
            raise PublishError("the MQTT delivery process is not started")
        try:
            with self._send_lock:
                self._conn.send(message)
        except OSError as exc:
            self._fail(f"the MQTT delivery process is gone ({exc})")
            raise PublishError(self._failure or str(exc)) from exc

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            try:
                name, *args = conn.recv()
            except (EOFError, OSError):
                break
            self._callbacks[name](*args)
        if not self._closing:
            code = self._child.poll() if self._child is not None else None
            self._fail(f"the MQTT delivery process exited unexpectedly (exit code {code})")

    def _on_status(self, state: str, connected: bool, last_error: str | None) -> None:
        self._last_error = last_error
        if not self._closing:
            self._state = PublisherState(state)
        (self._connected.set if connected else self._connected.clear)()

    def _on_reply(self, request: int, value: Any) -> None:
        with self._reply_ready:
            self._replies[request] = value
            self._reply_ready.notify_all()

    def _on_failed(self, reason: str, kind: str | None = None) -> None:
        self._failure_kind = kind
        self._fail(_FAILED + reason)

    def _on_closed(self, stats: dict[str, Any]) -> None:
        self._final_stats = stats

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            if not self._closing and self._started.is_set():  # at start, start() raises it instead
                logger.error("%s; results can no longer be published", reason)
        self._connected.clear()
        self._started.set()
        with self._reply_ready:
            self._reply_ready.notify_all()


class PublisherProcess(MQTTPublisher):
    """:class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher` with its link in a child process.

    >>> with PublisherProcess(MQTTConfig(device_id="pi-kitchen", host="broker.lan")) as publisher:
    ...     publisher.on_command("prompt", set_prompt, payload_format="text")
    ...     seqs = publisher.publish_results([{"ts": time.time(), "label": "left", "confidence": 0.9}])
    """

    spawn = staticmethod(spawn)

    def __init__(self, config: MQTTConfig, *, boot: str | None = None, child: DeliveryChild | None = None) -> None:
        """``child``: a process from :meth:`spawn`, started earlier; by default :meth:`start` spawns one."""
        self._spawned = child
        super().__init__(config, boot=boot)

    def _make_link(self) -> Link:
        return LinkProxy(self.config, boot=self.boot, on_command_message=self._router.on_message, child=self._spawned)
