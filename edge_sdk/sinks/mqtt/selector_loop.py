"""``SelectorLoop``: paho, the outbox's delivery rounds and other readers, driven from one thread.

With ``client.loop_start()`` paho reads every PUBACK on a network thread of its own and hands it to
the outbox thread (a queue and an event), and every publish from the outbox thread writes a byte to
paho's wake-up socket: the delivery process ran three threads taking turns on one interpreter lock.
Here one thread waits on one selector for the paho socket (readable; writable only while paho holds
unsent bytes), the readers added with :meth:`add_reader` (the runtime's socket) and a wake-up pipe,
and after each wake-up runs paho's external-loop calls (``loop_read``, ``loop_write``,
``loop_misc``) and one :meth:`Delivery.pump <edge_sdk.sinks.mqtt.delivery.Delivery.pump>`, so
PUBACKs read in one ``loop_read`` free the window for the publishes of the same round, and what the
round queued is written at once, before the next wait.

What paho's thread did, this loop does:

- reconnect with backoff: ``reconnect_min_s``, doubled after each failure up to ``reconnect_max_s``,
  back to the minimum once connected (paho's rule);
- connect off the loop: paho's ``reconnect()`` resolves the name and makes the TCP and TLS handshakes
  blocking (up to ``connect_timeout``, a failing DNS longer), and the runtime's socket must be read
  meanwhile, or its ``accept`` would wait for the broker. Each attempt runs in a short-lived thread
  (``edge_sdk-mqtt-connect``) while the loop leaves the client alone; it ends by writing to the
  wake-up pipe;
- keepalive: ``loop_misc`` at least every ``_MISC_EVERY_S``.

Blocking waits (a flush, the drain at close, the ``stopped`` message) are :meth:`run_until`, which
keeps the loop running for paho and the outbox but not for the added readers: their requests wait
in their sockets, as they waited for a blocked thread before.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self

__all__ = ["PahoThread", "SelectorLoop"]

logger = logging.getLogger(__name__)

_MISC_EVERY_S = 0.5  # keepalive pings and the PINGRESP timeout: paho counts in whole seconds
_IDLE_S = 1.0  # the longest wait when nothing is due: loop_misc and the pump set shorter ones
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE


def _queue_only(client: Any, userdata: Any, sock: Any) -> None:
    """paho's ``on_socket_register_write``: with it set, ``publish`` only queues the packet (without
    it, paho writes each packet from inside ``publish``); the loop writes after the round."""


class PahoThread:
    """:class:`SelectorLoop`'s interface for paho's own network thread (``loop_start``; it reconnects
    with paho's backoff) and the outbox thread: what ``mqtt.delivery: threads`` runs."""

    threaded = True  # the outbox has its own thread too

    def __init__(self) -> None:
        self._client: Any = None

    def attach(self, client: Any, pump: Callable[[], float], *, reconnect_min_s: float, reconnect_max_s: float) -> None:
        """Start paho's thread (``pump`` runs on the outbox thread; paho has the delays already)."""
        self._client = client
        client.loop_start()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``done()`` while the threads work, for ``timeout_s`` at most; return ``done()``."""
        deadline_s = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() >= deadline_s:
                return False
            time.sleep(0.005)
        return True

    def leave(self, disconnect: Callable[[], None], timeout_s: float = 2.0) -> None:
        """``disconnect()`` (it queues the DISCONNECT), then stop paho's thread once it wrote it."""
        disconnect()
        self._client.loop_stop()


class SelectorLoop:
    """One selector for one paho client, its delivery rounds and extra readers; owns the selector
    and a wake-up pipe (:meth:`close`). Call everything from one thread, the loop's."""

    threaded = False  # the delivery rounds run here: Delivery.pump after each wake-up

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, _READ, self._drain_wake)
        self._readers: dict[Any, Callable[[], None]] = {}
        self._suspended = 0  # run_until depth: the extra readers are off the selector meanwhile
        self._client: Any = None
        self._pump: Callable[[], float] = lambda: _IDLE_S
        self._sock: Any = None  # the paho socket on the selector
        self._events = 0  # what it is registered for
        self._connector: threading.Thread | None = None
        self._connect_due_s = 0.0
        self._delay_s: float | None = None  # the current backoff; None: connected, or never failed
        self._min_delay_s = self._max_delay_s = 0.0
        self._leaving = False  # disconnecting for good: no reconnects
        self._misc_due_s = 0.0
        self._timeout_s = 0.0  # until the pump, loop_misc or a reconnect is due

    # -- set-up ----------------------------------------------------------------------------------

    def attach(self, client: Any, pump: Callable[[], float], *, reconnect_min_s: float, reconnect_max_s: float) -> None:
        """Drive ``client`` (``connect_async`` called, ``loop_start`` not) and call ``pump`` after each
        wake-up; ``pump`` returns the seconds until it has timed work. The first attempt starts now."""
        if self._client is not None:
            raise RuntimeError("SelectorLoop.attach: this loop drives a client already")
        client.on_socket_register_write = _queue_only
        client.on_socket_close = self._on_socket_close
        self._client, self._pump = client, pump
        self._min_delay_s, self._max_delay_s = reconnect_min_s, reconnect_max_s
        self._connect_due_s = time.monotonic()

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when ``fileobj`` is readable (not inside :meth:`run_until`)."""
        self._readers[fileobj] = callback
        if not self._suspended:
            self._selector.register(fileobj, _READ, lambda mask: callback())

    def remove_reader(self, fileobj: Any) -> None:
        if self._readers.pop(fileobj, None) is not None and not self._suspended:
            self._selector.unregister(fileobj)

    def close(self) -> None:
        """Close the selector and the pipe (the paho socket is the client's); idempotent."""
        if self._wake_r < 0:
            return
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------------------------------

    def run_once(self, timeout_s: float) -> None:
        """Wait for I/O up to ``timeout_s`` (less when something is due), handle it, pump."""
        for key, mask in self._selector.select(max(0.0, min(timeout_s, self._timeout_s))):
            key.data(mask)
        self.service()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Run the loop until ``done()`` or ``timeout_s``; return ``done()``. The extra readers wait."""
        deadline = time.monotonic() + timeout_s
        self._suspend(+1)
        try:
            self.service()  # what the caller just queued (a publish, a DISCONNECT) goes out before the first wait
            while not done():
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    return done()
                self.run_once(remaining_s)
            return True
        finally:
            self._suspend(-1)

    def service(self) -> None:
        """Pump the outbox, write what paho queued, keep the connection (keepalive, reconnect)."""
        client = self._client
        if client is None:
            return
        now = time.monotonic()
        if self._connector is not None:  # a connect attempt owns the client until it ends
            if self._connector.is_alive():
                self._timeout_s = self._pump()  # the window is shut while disconnected: no paho calls
                return
            self._connector.join()
            self._connector = None
        sock = client.socket()
        if sock is None:
            if not self._leaving and now >= self._connect_due_s:
                self._start_connect(client)
                self._timeout_s = self._pump()
                return
        else:
            if sock is not self._sock:
                self._register(sock)
                # read before the first write, as paho's own loop does: a broker that refused the TLS
                # handshake (no client certificate) says why in an alert, lost if we write into its close
                self._on_paho_socket(_READ)
            if self._delay_s is not None and client.is_connected():
                self._delay_s = None  # the CONNACK came: the next outage starts at the shortest delay
            if now >= self._misc_due_s:
                self._misc_due_s = now + _MISC_EVERY_S
                client.loop_misc()
        timeout_s = self._pump()
        if self._sock is not None and client.want_write():  # the socket is nearly always writable: write now
            client.loop_write()  # a DISCONNECT written closes the socket (_on_socket_close)
        if self._sock is not None:
            self._watch_write(client.want_write())
            timeout_s = min(timeout_s, self._misc_due_s - now)
        elif not self._leaving:
            timeout_s = min(timeout_s, self._connect_due_s - now)
        self._timeout_s = max(0.0, min(timeout_s, _IDLE_S))

    def leave(self, disconnect: Callable[[], None], timeout_s: float = 2.0) -> None:
        """Stop reconnecting, call ``disconnect`` (it queues a DISCONNECT, or publishes and then
        disconnects) and run until paho has written it and closed the socket, for ``timeout_s`` at most."""
        self._leaving = True
        connector = self._connector
        if connector is not None:
            connector.join(timeout_s)
            if connector.is_alive():  # stuck in DNS or a handshake: nothing to leave; it ends with the process
                logger.warning("MQTT connect attempt still running at close; not waiting for it")
                return
            self._connector = None
        client = self._client
        if client is None:
            return
        if client.socket() is not None and client.socket() is not self._sock:
            self._register(client.socket())
        disconnect()
        if not self.run_until(lambda: client.socket() is None, timeout_s):
            logger.warning("MQTT DISCONNECT not written within %g s; closing anyway", timeout_s)

    # -- internals -------------------------------------------------------------------------------

    def _start_connect(self, client: Any) -> None:
        self._connector = threading.Thread(target=self._connect, args=(client,), name="edge_sdk-mqtt-connect",
                                           daemon=True)
        self._connector.start()

    def _connect(self, client: Any) -> None:
        """The connect thread: one attempt, as paho's loop_forever makes it."""
        try:
            client.reconnect()
        # paho retries after OSError (socket, DNS, TLS); anything else is a failed attempt too, or the
        # attempt would end with no retry scheduled
        except Exception:  # noqa: BLE001
            on_connect_fail = client.on_connect_fail  # reads sys.exc_info(), so called in here
            if on_connect_fail is not None:
                try:
                    on_connect_fail(client, client.user_data_get())
                except Exception:
                    logger.exception("on_connect_fail failed")
            if client.socket() is None:
                self._schedule_reconnect()
        finally:
            try:
                os.write(self._wake_w, b"c")
            except OSError:  # closed: the loop is gone
                pass

    def _schedule_reconnect(self) -> None:
        delay_s = self._min_delay_s if self._delay_s is None else min(self._delay_s * 2, self._max_delay_s)
        self._delay_s = delay_s
        self._connect_due_s = time.monotonic() + delay_s

    def _on_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        """paho closes its socket (a lost connection, a keepalive timeout, our DISCONNECT written)."""
        if sock is self._sock:
            self._selector.unregister(sock)
            self._sock, self._events = None, 0
        if not self._leaving:
            self._schedule_reconnect()

    def _register(self, sock: Any) -> None:
        if self._sock is not None:
            self._selector.unregister(self._sock)
        self._sock, self._events = sock, _READ
        self._selector.register(sock, _READ, self._on_paho_socket)

    def _watch_write(self, want: bool) -> None:
        events = _READ | _WRITE if want else _READ
        if events != self._events:
            self._events = events
            self._selector.modify(self._sock, events, self._on_paho_socket)

    def _on_paho_socket(self, mask: int) -> None:
        client = self._client
        if mask & _READ:
            client.loop_read()
            sock = client.socket()
            # TLS: records already decrypted wait in the SSL object, and select cannot see them
            while sock is not None and getattr(sock, "pending", None) is not None and sock.pending():
                client.loop_read()
                sock = client.socket()
        if mask & _WRITE and client.socket() is not None:
            client.loop_write()

    def _drain_wake(self, mask: int) -> None:
        try:
            os.read(self._wake_r, 512)
        except BlockingIOError:
            pass

    def _suspend(self, step: int) -> None:
        before = self._suspended
        self._suspended += step
        if before == 0 and self._suspended == 1:
            for fileobj in self._readers:
                self._selector.unregister(fileobj)
        elif before == 1 and self._suspended == 0:
            for fileobj, callback in self._readers.items():
                self._selector.register(fileobj, _READ, lambda mask, callback=callback: callback())
