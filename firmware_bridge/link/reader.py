"""The thread that owns a link's serial port: read bytes, hand them to a protocol, reopen after a loss.

Modelled on pyserial's ``serial.threaded.ReaderThread``, with what a USB board needs on top: when
the port fails (or the protocol raises :class:`LinkError` to drop it), the port is closed, the
protocol's ``connection_lost`` is called, and the port is reopened every ``reconnect_interval_s``
until it is back, as when a board is unplugged and plugged in again. The reader knows nothing about
frames; the protocol knows nothing about ports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from firmware_bridge.errors import LinkDownError, LinkError

__all__ = ["READ_TIMEOUT_S", "PortReader", "StreamProtocol"]

log = logging.getLogger("firmware_bridge.link.bridge")  # one logger for the whole link

READ_TIMEOUT_S = 0.02  # how often the reader wakes without data, so the protocol's tick() runs


class StreamProtocol(Protocol):
    """What :class:`PortReader` drives (:class:`~firmware_bridge.link.protocol.LinkProtocol` is one)."""

    def connection_made(self) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def tick(self) -> None: ...

    def connection_lost(self, exc: BaseException | None) -> None: ...


class PortReader:
    """Reads the port of ``url`` on a thread named ``thread_name``, feeds ``protocol``; thread-safe :meth:`write`.

    ``reopen`` opens the port again after a loss (raising LinkError while it is not back); with
    ``reconnect`` False the reader stops after the first loss instead.
    """

    def __init__(
        self,
        url: str,
        protocol: StreamProtocol,
        reopen: Callable[[], Any],
        *,
        reconnect: bool,
        reconnect_interval_s: float,
        thread_name: str,
    ) -> None:
        self.url = url
        self._thread_name = thread_name
        self._protocol = protocol
        self._reopen = reopen
        self._reconnect = reconnect
        self._reconnect_interval_s = reconnect_interval_s
        self._port_lock = threading.Lock()  # guards _port between the reader, writers and stop()
        self._port: Any = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None  # what ended the thread, when it was not a LinkError

    def start(self, port: Any) -> None:
        """Start reading ``port``, opened by the caller so that its open errors reach the caller."""
        with self._port_lock:
            self._port = port
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and close the port; the protocol gets ``connection_lost(None)``. Idempotent."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        self._close_port()  # if the thread did not finish in time, the port is still released

    @property
    def is_open(self) -> bool:
        with self._port_lock:
            return self._port is not None

    def write(self, data: bytes) -> None:
        """Write ``data`` from any thread; LinkDownError without a port, LinkError if the write fails."""
        with self._port_lock:
            port = self._port
            if port is None:
                raise LinkDownError(f"{self.url} is not open")
            try:
                port.write(data)
            except Exception as exc:  # SerialException, SerialTimeoutException, OSError
                raise LinkError(f"write to {self.url} failed: {exc}") from exc

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug or a callback's error must not end the thread silently
            self.failure = exc
            log.error("reader thread of %s failed; the link is down for good: %r", self.url, exc, exc_info=exc)
            self._close_port()
            error = LinkError(f"reader thread failed: {exc!r}")
            error.__cause__ = exc
            self._protocol.connection_lost(error)  # counted as a link loss; the owner sees .failure

    def _loop(self) -> None:
        connected = self._call(self._protocol.connection_made)
        while not self._stopping.is_set():
            if not connected:
                if not self._reconnect:
                    return  # connection_lost told the owner; without reconnect the link stays down
                connected = self._try_reopen() and self._call(self._protocol.connection_made)
                continue
            port = self._port
            try:
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # noqa: BLE001 -- pyserial raises SerialException, OSError, TypeError on a vanished fd
                error = LinkError(f"read failed: {exc}")
                error.__cause__ = exc  # as ``raise ... from exc`` would: the original stays attached
                connected = self._lose(error)
                continue
            if data:
                connected = self._call(self._protocol.data_received, data)
            connected = connected and self._call(self._protocol.tick)
        if self._close_port():
            self._protocol.connection_lost(None)

    def _call(self, method: Callable[..., None], *args: bytes) -> bool:
        """Run a protocol method; when it raises LinkError, drop the connection. True if still up."""
        try:
            method(*args)
        except LinkError as exc:
            return self._lose(exc)
        return True

    def _lose(self, exc: LinkError) -> bool:
        if self._stopping.is_set():
            return True  # closing: the error is the close itself, and _run reports it as None
        self._close_port()
        self._protocol.connection_lost(exc)
        return False

    def _try_reopen(self) -> bool:
        try:
            port = self._reopen()
        except LinkError as exc:
            log.debug("reopen %s: %s", self.url, exc)
            self._stopping.wait(self._reconnect_interval_s)
            return False
        with self._port_lock:
            if self._stopping.is_set():
                port.close()
                return False
            self._port = port
        return True

    def _close_port(self) -> bool:
        """Close the port if one is open; True if there was one."""
        with self._port_lock:
            port, self._port = self._port, None
        if port is None:
            return False
        try:
            port.close()
        except Exception as exc:  # noqa: BLE001 -- closing a vanished device can fail; the fd is gone anyway
            log.debug("closing %s: %s", self.url, exc)
        return True
