"""A tiny ``sd_notify`` client: tell systemd the runtime is ready, alive or stopping (stdlib only).

Under a ``Type=notify`` unit systemd passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the
abstract namespace) and, with ``WatchdogSec=``, ``$WATCHDOG_USEC``. Every function here is a no-op
returning ``False`` when those are absent, so the same code runs from a shell, in tests and on a Pi::

    from edge_sdk.deploy import sdnotify

    sdnotify.ready()                       # after the model loaded and the sources opened
    watchdog = sdnotify.Watchdog.from_environment()
    for result in results:
        watchdog.kick()                    # cheap: one clock read unless a ping is due
    sdnotify.stopping()

The protocol is one datagram of ``KEY=value`` lines (``man sd_notify``); no reply is expected.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

__all__ = ["Notifier", "Watchdog", "notify", "ready", "status", "stopping", "watchdog", "watchdog_interval_s"]

_log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to one ``$NOTIFY_SOCKET`` address; ``address=None`` makes it a no-op.

    The socket opens on the first send and stays open, so a watchdog ping costs one ``sendto``.
    A failed send is logged once and reported as ``False``: losing a notification must never take
    the pipeline down (systemd's own timeouts are the safety net).
    """

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; ``True`` when it was sent."""
        if self.address is None or not fields:
            return False
        message = "\n".join(fields).encode()
        target = _socket_address(self.address)
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(message, target)
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    _log.warning("sd_notify to %s failed (%s); later failures are not logged", self.address, exc)
                return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket_address(address: str) -> str:
    # '@name' is systemd's spelling of the Linux abstract namespace, which the kernel wants as '\0name'.
    return "\0" + address[1:] if address.startswith("@") else address


def notify(*fields: str, environ: Mapping[str, str] | None = None) -> bool:
    """One-shot notification to ``$NOTIFY_SOCKET``; ``False`` (and nothing sent) outside systemd."""
    with Notifier.from_environment(environ) as notifier:
        return notifier.send(*fields)


def ready(status_text: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """``READY=1``: start-up is complete; systemd starts the watchdog clock from here."""
    fields = ["READY=1"]
    if status_text:
        fields.append(f"STATUS={_one_line(status_text)}")
    return notify(*fields, environ=environ)


def stopping(status_text: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """``STOPPING=1``: a clean shutdown began, so a slow drain is not mistaken for a hang."""
    fields = ["STOPPING=1"]
    if status_text:
        fields.append(f"STATUS={_one_line(status_text)}")
    return notify(*fields, environ=environ)


def watchdog(*, environ: Mapping[str, str] | None = None) -> bool:
    """One ``WATCHDOG=1`` ping; in a loop prefer :class:`Watchdog`, which rate-limits."""
    return notify("WATCHDOG=1", environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """``STATUS=...``: the line ``systemctl status edge-sdk`` shows."""
    return notify(f"STATUS={_one_line(text)}", environ=environ)


def _one_line(text: str) -> str:
    # A newline would start a new KEY=value field and could forge READY=1 or similar.
    return " ".join(text.split())


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """The unit's ``WatchdogSec`` in seconds, or ``None`` when no watchdog applies to this process.

    Like ``sd_watchdog_enabled(3)``: ``$WATCHDOG_PID``, when set, must be this process (a child
    that inherited the environment must not ping for its parent).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value_us = int(usec)
    except ValueError:
        _log.warning("ignoring WATCHDOG_USEC=%r: expected a positive integer of microseconds", usec)
        return None
    return value_us / 1e6 if value_us > 0 else None


class Watchdog:
    """Pings the systemd watchdog at half its interval, from wherever progress is made.

    Call :meth:`kick` on every unit of progress (each inference result): it reads a monotonic clock
    and compares, and only when half the interval has passed since the last ping does it send
    ``WATCHDOG=1``. If progress stops (a hung camera, interpreter or stage), the pings stop and
    systemd restarts the service after ``WatchdogSec``. Disabled (every call a cheap no-op) when
    the process is not under a systemd watchdog.
    """

    def __init__(
        self,
        interval_s: float | None,
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s is not None and interval_s <= 0:
            raise ValueError(f"watchdog interval must be positive seconds or None. Got: {interval_s}")
        self.notifier = notifier if notifier is not None else Notifier(None)
        self.interval_s = interval_s if self.notifier.enabled else None
        # Half the interval, as sd_watchdog_enabled(3) recommends: one late ping still lands in time.
        self.ping_every_s = self.interval_s / 2 if self.interval_s is not None else float("inf")
        self._clock = clock
        self._last_ping_s = float("-inf")
        self.pings = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Watchdog:
        interval_s = watchdog_interval_s(environ)
        notifier = Notifier.from_environment(environ) if interval_s is not None else None
        return cls(interval_s, notifier)

    @property
    def enabled(self) -> bool:
        return self.interval_s is not None

    def kick(self, status_text: Callable[[], str] | None = None) -> bool:
        """Ping if one is due; ``True`` when a ping was sent.

        ``status_text``, a callable so that it is only evaluated when a ping goes out, adds a
        ``STATUS=`` line to the same datagram (fps, results) for ``systemctl status``.
        """
        if self.interval_s is None:
            return False
        now_s = self._clock()
        if now_s - self._last_ping_s < self.ping_every_s:
            return False
        self._last_ping_s = now_s
        fields = ["WATCHDOG=1"]
        if status_text is not None:
            fields.append(f"STATUS={_one_line(status_text())}")
        sent = self.notifier.send(*fields)
        if sent:
            self.pings += 1
        return sent

    def close(self) -> None:
        self.notifier.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
