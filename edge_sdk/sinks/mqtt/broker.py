"""An embedded MQTT broker (amqtt) for when no broker is configured: results stay subscribable.

amqtt is a pure-Python asyncio broker. It runs here on its own event loop in a named thread, on
127.0.0.1 only, with an MQTT TCP listener and optionally a websockets listener (for browser
dashboards). It is a convenience for a single device and a laptop, not a deployment broker:

- amqtt 0.12 speaks MQTT 3.1.1 only (a v5 CONNECT is refused), so a publisher that talks to it
  must use ``protocol: "3.1.1"``; :meth:`EmbeddedBroker.mqtt_overrides` gives the right options;
- it keeps sessions and retained messages in memory: a restart forgets them;
- throughput is a few thousand small messages per second on one core, plenty for one device.

Deployments point at Mosquitto or EMQX instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from edge_sdk._lazy import require
from edge_sdk.errors import PublishError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["EmbeddedBroker"]

logger = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bind_error(host: str, port: int) -> OSError | None:
    """Why a listener on ``host:port`` would fail, tried as asyncio's server binds it; None when free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


class EmbeddedBroker:
    """``with EmbeddedBroker(port=1883, ws_port=9001) as broker: ...``; port 0 picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, ws_port: int | None = None) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.ws_port = (ws_port or _free_port(host)) if ws_port is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    def _config(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}}
        if self.ws_port is not None:
            listeners["ws"] = {"type": "ws", "bind": f"{self.host}:{self.ws_port}"}
        return {
            "listeners": listeners,
            # Only anonymous access on localhost: no $SYS publishing, no per-packet logging.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = 10.0) -> Self:
        if self.running:
            return self
        broker_module = require("amqtt.broker", "the embedded MQTT broker")
        for key, port in (("port", self.port), ("ws_port", self.ws_port)):
            error = _bind_error(self.host, port) if port is not None else None
            if error is not None:  # said here, in one line, before amqtt logs a traceback for it
                raise PublishError(
                    f"embedded MQTT broker could not listen on {self.host}:{port}: {error.strerror or error} "
                    f"(another broker or edge-sdk run?). Set embedded_broker.{key} to a free port (0 picks one), "
                    "or an mqtt section to use the broker that is there")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._broker = broker_module.Broker(self._config(), loop=loop)
            await self._broker.start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            amqtt_log = logging.getLogger("amqtt.broker")
            level = amqtt_log.level
            amqtt_log.setLevel(logging.CRITICAL)  # a failed start is raised by start(), in one line
            try:
                loop.run_until_complete(boot())
            except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it in the caller's thread
                started.set_exception(exc)
                loop.close()
                return
            finally:
                amqtt_log.setLevel(level)
            started.set_result(None)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="edge_sdk-embedded-broker", daemon=True)
        self._thread.start()
        try:
            started.result(timeout_s)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise PublishError(f"embedded MQTT broker did not start on {self.host}:{self.port} within {timeout_s} s")
        except Exception as exc:
            self._thread.join(timeout_s)
            self._thread = None
            raise PublishError(f"embedded MQTT broker could not listen on {self.host}:{self.port}: {exc}") from exc
        where = f"mqtt://{self.host}:{self.port}" + (f" and ws://{self.host}:{self.ws_port}" if self.ws_port else "")
        logger.info("no MQTT broker configured: started the embedded amqtt broker on %s (MQTT 3.1.1)", where)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, loop, self._thread = self._thread, self._loop, None
        if thread is None or loop is None:
            return
        if self._broker is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                future.result(timeout_s)
            except Exception as exc:  # noqa: BLE001 - still stop the loop; a half-shut broker dies with it
                logger.warning("embedded broker shutdown failed: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning("embedded broker thread did not end within %.1f s", timeout_s)
        self._broker = None

    def mqtt_overrides(self) -> dict[str, Any]:
        """``mqtt:`` options that point a publisher at this broker."""
        return {"host": self.host, "port": self.port, "protocol": "3.1.1", "transport": "tcp"}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
