"""``PublisherProcess``: the MQTT publisher and its outbox in a child process of their own.

Why a process: Python threads share one interpreter lock. At hundreds of results per second,
paho-mqtt's per-message work (about 95 us of CPU here, half of it building reason-code and
property objects for each PUBACK) and the outbox's SQLite commits took as much interpreter time as
the inference worker, which then waited for the lock after each OpenCV and TFLite call. In a
child process, delivery runs on another core with its own lock: 1.3-1.5x the results per second
of delivery threads on 2 cores, but 0.7-0.8x pinned to one core, where the two processes take
turns (``mqtt.delivery: auto`` chooses by the CPUs the runtime may use; ``make bench-runtime``).

The parent stamps ``(boot, seq)``, so :meth:`publish_results` returns the sequence numbers at once,
and runs the command handlers. It hands each batch over a socket pair as pickled dicts (3 us a
result, against 17 us for the JSON); the child encodes, commits to the outbox and sends (see
:class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher`, which the child runs). A payload that is not
JSON (NaN) is therefore logged and counted by the child (``unencodable``) instead of raised.

Delivery guarantee: a result is durable once the child has committed it. If the parent dies, the
child reads what is left in the socket (the kernel keeps it after the writer is gone), commits it
and exits at once without waiting for the broker, so a restarted runtime finds the outbox free and
replays those results, marked. What a SIGKILL of *both* processes loses is what sat in memory or in
the socket, like the dispatcher's queue before.

The child is ``python -m edge_sdk.sinks.mqtt.delivery_child <fd>`` (see that module), not a
``multiprocessing`` spawn, which would re-run the user's ``__main__`` script.
"""

from __future__ import annotations

import itertools
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.commands import CommandHandler, CommandRouter, PayloadFormat
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.homeassistant import HostInfo, McuInfo
from edge_sdk.sinks.mqtt.payload import ResultStamper
from edge_sdk.sinks.mqtt.publisher import PublisherState, add_stats_sections
from edge_sdk.sinks.mqtt.topics import Topics

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DeliveryChild", "PublisherProcess"]

logger = logging.getLogger(__name__)

_RPC_TIMEOUT_S = 5.0


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


class PublisherProcess:
    """The :class:`~edge_sdk.sinks.mqtt.publisher.MQTTPublisher` interface, delivered by a child process.

    >>> with PublisherProcess(MQTTConfig(device_id="pi-kitchen", host="broker.lan")) as publisher:
    ...     publisher.on_command("prompt", set_prompt, payload_format="text")
    ...     publisher.publish_results([{"ts": time.time(), "label": "left", ...}])
    """

    def __init__(self, config: MQTTConfig, *, boot: str | None = None, child: DeliveryChild | None = None) -> None:
        """``child``: a process from :meth:`spawn`, started earlier; by default :meth:`start` spawns one."""
        self.config = config
        self._spawned = child
        self.topics = Topics(config.topic_prefix, config.device_id)
        self._stamper = ResultStamper(config.device_id, boot)
        self._router = CommandRouter(
            self.topics, max_payload_bytes=config.command_max_bytes, queue_size=config.command_queue_size
        )
        self._sections: dict[str, Callable[[], Mapping[str, Any]]] = {}
        self._conn: Connection | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()  # seq order == send order
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
        self._raw_dropped = 0

    @property
    def boot(self) -> str:
        return self._stamper.boot

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def last_error(self) -> PublishError | None:
        return PublishError(self._last_error) if self._last_error else None

    # -- life cycle ------------------------------------------------------------------------------

    @staticmethod
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

    def start(self) -> Self:
        if self._state is not PublisherState.CREATED:
            raise PublishError(f"start() needs a new publisher. State: {self._state.value}")
        spawned, self._spawned = self._spawned or self.spawn(), None
        self._child, self._conn = spawned.process, spawned.conn
        self._send(("config", self.config, self.boot, logging.getLogger().getEffectiveLevel()))
        self._state = PublisherState.CONNECTING
        self._router.start()
        self._reader = threading.Thread(target=self._read, name="edge_sdk-mqtt-process-reader", daemon=True)
        self._reader.start()
        logger.info("MQTT delivery for %s runs in process %d (boot %s)", self.config.device_id, self._child.pid,
                    self.boot)
        return self

    def wait_connected(self, timeout_s: float) -> None:
        if self._connected.wait(timeout_s):
            return
        where = f"{self.config.host}:{self.config.effective_port}"
        cause = self._failure or self._last_error or "no answer yet"
        raise PublishError(f"not connected to MQTT broker {where} after {timeout_s} s. Last error: {cause}")

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged everything in the outbox; False on timeout."""
        return bool(self._call("flush", timeout_s, wait_s=timeout_s + _RPC_TIMEOUT_S))

    def close(self) -> None:
        """The child delivers for up to ``drain_timeout_s``, says ``stopped`` and exits; idempotent."""
        if self._closing or self._child is None:
            if self._spawned is not None:  # handed over but never started
                self._spawned.close()
                self._spawned = None
            self._state = PublisherState.CLOSED
            return
        self._closing = True
        self._state = PublisherState.CLOSING
        child = self._child
        try:
            self._send(("close", self.config.drain_timeout_s))
        except PublishError:
            pass  # already gone: nothing to ask
        try:
            child.wait(self.config.drain_timeout_s + 10.0)
        except subprocess.TimeoutExpired:
            logger.error("MQTT delivery process %d did not stop; killing it (its outbox keeps the results)",
                         child.pid)
            child.kill()
            child.wait(5.0)
        if self._reader is not None:
            self._reader.join(2.0)
        if self._conn is not None:
            self._conn.close()
        self._router.close()
        self._connected.clear()
        self._state = PublisherState.CLOSED

    def __enter__(self) -> Self:
        if self._state is PublisherState.CREATED:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- publishing ------------------------------------------------------------------------------

    def publish_result(self, result: Mapping[str, Any]) -> int:
        return self.publish_results((result,))[0]

    def publish_results(self, results: Sequence[Mapping[str, Any]]) -> list[int]:
        """Stamp here (a wrong payload key raises in the caller); the child encodes and commits."""
        if not results:
            return []
        with self._lock:
            stamped = [self._stamper.stamp(result) for result in results]
            self._send(("results", stamped))
        return [seq for seq, _ in stamped]

    def publish_stats(self, stats: Mapping[str, Any]) -> bool:
        """Stats with this process's sections; the child adds its own ``mqtt`` section and sends."""
        if not self._connected.is_set():
            return False
        body = dict(stats)
        add_stats_sections(body, self._sections)
        self._send(("stats", body, self._router.stats(), self._router.last_rejection))
        return True

    def publish_raw(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
        if not self._connected.is_set():
            self._raw_dropped += 1
            return False
        self._send(("raw", topic, payload, qos, retain))
        return True

    def add_stats_section(self, name: str, section: Callable[[], Mapping[str, Any]]) -> None:
        self._sections[name] = section

    def announce_homeassistant(self, *, mcu: McuInfo | None = None, host: HostInfo | None = None) -> bool:
        if not self.config.homeassistant.enabled:
            return False
        self._send(("announce", mcu, host))
        return True

    def on_command(self, name: str, handler: CommandHandler, payload_format: PayloadFormat = "json") -> None:
        """Run ``handler`` in this process, on the command thread, for each valid ``cmd/<name>``."""
        self._router.register(name, handler, payload_format)

    def stats(self) -> dict[str, Any]:
        try:
            stats = dict(self._call("stats_request"))
        except PublishError:
            stats = dict(self._final_stats) or {"state": self._state.value, "connected": False}
        stats["state"] = self._state.value if self._failure or self._closing else stats.get("state")
        stats["commands"] = self._router.stats()
        stats["last_command_rejection"] = self._router.last_rejection
        stats["raw_dropped"] = self._raw_dropped
        stats["delivery_pid"] = self._child.pid if self._child is not None else None
        return stats

    # -- talking to the child --------------------------------------------------------------------

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

    def _call(self, kind: str, *args: Any, wait_s: float = _RPC_TIMEOUT_S) -> Any:
        request = next(self._requests)
        self._send((kind, request, *args))
        with self._reply_ready:
            if not self._reply_ready.wait_for(lambda: request in self._replies or self._failure is not None, wait_s):
                raise PublishError(f"the MQTT delivery process did not answer {kind!r} within {wait_s:g} s")
            if request not in self._replies:
                raise PublishError(self._failure or "the MQTT delivery process is gone")
            return self._replies.pop(request)

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "status":
                _, state, connected, last_error = message
                self._last_error = last_error
                if not self._closing:
                    self._state = PublisherState(state)
                (self._connected.set if connected else self._connected.clear)()
            elif kind == "command":
                self._router.on_message(message[1], message[2])
            elif kind == "reply":
                with self._reply_ready:
                    self._replies[message[1]] = message[2]
                    self._reply_ready.notify_all()
            elif kind == "closed":
                self._final_stats = message[1]
            elif kind == "failed":
                self._fail(f"the MQTT delivery process failed: {message[1]}")
        if not self._closing:
            code = self._child.poll() if self._child is not None else None
            self._fail(f"the MQTT delivery process exited unexpectedly (exit code {code})")

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            if not self._closing:
                logger.error("%s; results can no longer be published", reason)
        self._connected.clear()
        with self._reply_ready:
            self._reply_ready.notify_all()
