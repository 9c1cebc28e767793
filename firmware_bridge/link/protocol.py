"""The receive side of a BridgeLink as a protocol object, in the style of pyserial's ``serial.threaded``.

A :class:`LinkProtocol` is fed what a port delivers and never touches the port itself::

    connection_made()        a port was (re)opened: forget any half frame, send the host's HELLO
    data_received(data)      bytes from the port: decode frames and act on each
    tick()                   between reads: resend HELLO, send HEARTBEAT, notice a silent device
    connection_lost(exc)     the port is gone (``exc``) or was closed on purpose (None)

Each frame is acted on here: HELLO completes the handshake, SENSOR becomes a
:class:`SensorReading` (dropped and counted before the handshake), ACK/NACK wake the command
waiting on that sequence number (a duplicate ACK is counted), HEARTBEAT reports the device's
failsafe and, in its long form, which commands it applied. The protocol talks back only through
what its constructor is given (a ``send`` callable for frames, three event callbacks and two
clocks), so a test drives it with plain bytes and a fake clock, without a pty or a thread.

A method that finds the link unusable (HELLO or HEARTBEAT not sent, device silent) raises
:class:`LinkError`; as with pyserial's ``ReaderThread``, the reader that called it then closes the
port and calls :meth:`LinkProtocol.connection_lost` with that error.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from firmware_bridge.config import BridgeConfig
from firmware_bridge.errors import LinkDownError, LinkError
from firmware_bridge.link.clock import ClockMapper
from firmware_bridge.link.commands import PendingCommand
from firmware_bridge.link.reading import SensorReading
from firmware_bridge.protocol.codec import PROTOCOL_VERSION
from firmware_bridge.protocol.decoder import DecoderCounters, FrameDecoder
from firmware_bridge.protocol.messages import (
    ACK_STATUS_DUPLICATE,
    CAP_ONCE,
    HEARTBEAT_FLAG_FAILSAFE,
    HEARTBEAT_FLAG_STATUS_REQUEST,
    Ack,
    Frame,
    Heartbeat,
    Hello,
    Nack,
    Sensor,
    encode_frame,
)

__all__ = ["HOST_HELLO", "LinkProtocol", "scale_value"]

log = logging.getLogger("firmware_bridge.link.bridge")  # one logger for the whole link

# CAP_ONCE: this host understands the long ACK (duplicate flag) and HEARTBEAT (applied seqs).
HOST_HELLO = Hello(name="edge-sdk-host", firmware_version=(0, 1, 0), capabilities=CAP_ONCE)
# The counters this object updates; the send side (bytes_tx, commands_sent, ...) counts the rest.
_COUNTERS = ("sensor_frames", "heartbeats_rx", "acks", "nacks", "duplicate_acks", "link_losses", "reconnects",
             "readings_before_handshake")  # fmt: skip


# Handshakes are numbered across every link of the process, so a session id names one device session.
_SESSION_IDS = itertools.count(1)


def scale_value(raw: int, exponent: int) -> float:
    """A channel's raw integer in physical units (``raw * 10**exponent``)."""
    # Divide for negative exponents: 423 / 10 is 42.3 exactly as printed, 423 * 0.1 is not.
    return raw / 10.0**-exponent if exponent < 0 else float(raw * 10**exponent)


class LinkProtocol:
    """Handshake, readings, ACK matching and liveness of one link (see the module docstring).

    ``send`` writes one encoded frame and raises :class:`LinkError` when it cannot. ``on_connected``
    runs once per connection when the device's HELLO arrives (``device`` is already set),
    ``on_reading`` for every SENSOR frame, ``on_lost`` after a connection is lost (not when it is
    closed on purpose). ``name`` (the port's URL) names the link in logs and readings.

    Everything but :meth:`next_seq`, :meth:`expect_reply`, :meth:`forget_reply` and
    :meth:`cancel_pending` runs on the one reader thread; those four may be called from any thread.
    """

    def __init__(
        self,
        name: str,
        config: BridgeConfig,
        *,
        send: Callable[[bytes], None],
        on_connected: Callable[[Hello], None],
        on_reading: Callable[[SensorReading], None],
        on_lost: Callable[[], None],
        monotonic_s: Callable[[], float] = time.monotonic,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        self._send = send
        self._on_connected = on_connected
        self._on_reading = on_reading
        self._on_lost = on_lost
        self._monotonic_s = monotonic_s
        self._wall_s = wall_s
        self._decoder = FrameDecoder()
        self._clock = ClockMapper(config.clock_window_s)
        self._device: Hello | None = None
        self._connected = False  # this connection completed its handshake
        self._ever_connected = False  # any connection did: a later HELLO is a reconnect
        self._device_failsafe = False
        self._hello_sent_s = 0.0
        self._hello_attempts = 0
        self._last_rx_s = 0.0
        self._last_hb_tx_s = 0.0
        # Sequence numbers are shared by the reader (HELLO, HEARTBEAT) and command senders.
        self._lock = threading.Lock()
        self._tx_seq = 0
        self._pending: dict[int, PendingCommand] = {}
        self._counts = dict.fromkeys(_COUNTERS, 0)
        # The device's newest long HEARTBEAT (what it applied), and how many handshakes came before
        # it: the device forgets what it applied when either side restarts the session.
        self._status_cond = threading.Condition(self._lock)
        self._status: Heartbeat | None = None
        self._status_serial = 0
        self._session = 0  # id of the current handshake; 0 before the first

    # -- what the reader calls ---------------------------------------------------------------
    def connection_made(self) -> None:
        """A port was opened (first time or after a replug): start the handshake on it."""
        self._decoder.reset()  # a half frame from the previous port would corrupt the first one
        self._connected = False
        self._hello_attempts = 0
        self._send_hello(self._monotonic_s())

    def data_received(self, data: bytes) -> None:
        """Decode ``data`` (any chunking) and act on every complete, valid frame in it."""
        now = self._monotonic_s()
        if self._connected:
            self._last_rx_s = now  # any byte, even a corrupt one, shows the device is there
        for frame in self._decoder.feed(data):
            self._handle(frame, now)

    def tick(self) -> None:
        """Housekeeping between reads; raises LinkError when the link must be dropped."""
        now = self._monotonic_s()
        if self._connected:
            silent_s = now - self._last_rx_s
            if silent_s > self.config.link_timeout_s:
                raise LinkDownError(f"device silent for {silent_s:.2f} s")
            if now - self._last_hb_tx_s >= self.config.heartbeat_interval_s:
                self._last_hb_tx_s = now
                frame = encode_frame(self.next_seq(), Heartbeat(int(now * 1000) & 0xFFFFFFFF))
                try:
                    self._send(frame)
                except LinkError as exc:
                    raise LinkError(f"heartbeat not sent: {exc}") from exc
        elif (
            now - self._hello_sent_s > self.config.handshake_timeout_s
            # After a replug, keep trying for as long as it takes; at first, connect() gives up.
            and (self._hello_attempts < self.config.handshake_attempts or self._ever_connected)
        ):
            self._send_hello(now)

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port is gone: count and report ``exc``; None means it was closed on purpose."""
        self._connected = False
        if exc is None:
            return
        log.warning("link to %s lost: %s", self.name, exc)
        self._counts["link_losses"] += 1
        self._on_lost()

    # -- what command senders call -----------------------------------------------------------
    def next_seq(self) -> int:
        """The next outgoing sequence number (0..255, wrapping)."""
        with self._lock:
            seq = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 0xFF
            return seq

    def expect_reply(self) -> tuple[int, PendingCommand]:
        """A sequence number for a command, and the slot its ACK or NACK will be put in."""
        with self._lock:
            seq = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 0xFF
            pending = self._pending[seq] = PendingCommand()
            return seq, pending

    def forget_reply(self, seq: int) -> None:
        """Stop matching replies to ``seq`` (the command is done, acknowledged or not)."""
        with self._lock:
            self._pending.pop(seq, None)

    def cancel_pending(self) -> None:
        """Wake every command still waiting (the link is closing); their reply stays None."""
        with self._lock:
            for pending in self._pending.values():
                pending.event.set()
            self._status_cond.notify_all()

    @property
    def session(self) -> int:
        """Id of the latest handshake, unique in the process (the device's memory of applied seqs
        lasts one session); 0 before the first."""
        with self._lock:
            return self._session

    def request_status(self) -> tuple[int, int]:
        """Send a HEARTBEAT asking the device to report at once; ``(its seq, status serial before it)``.

        Raises LinkError when it cannot be sent. Any thread.
        """
        with self._lock:
            serial = self._status_serial
        seq = self.next_seq()
        self._send(encode_frame(seq, Heartbeat(int(self._monotonic_s() * 1000) & 0xFFFFFFFF,
                                               HEARTBEAT_FLAG_STATUS_REQUEST)))  # fmt: skip
        return seq, serial

    def wait_status(self, after_seq: int, serial: int, timeout_s: float) -> Heartbeat | None:
        """The first long HEARTBEAT (newer than ``serial``) showing the device has seen ``after_seq``."""

        def seen() -> bool:
            status = self._status
            return (
                self._status_serial > serial
                and status is not None
                and status.host_seq is not None
                and (status.host_seq - after_seq) & 0xFF < 0x80
            )

        with self._status_cond:
            if self._status_cond.wait_for(seen, timeout_s):
                return self._status
            return None

    # -- state -------------------------------------------------------------------------------
    @property
    def device(self) -> Hello | None:
        """The device's latest HELLO (kept across reconnects; None before the first)."""
        return self._device

    @property
    def connected(self) -> bool:
        """Whether the current connection completed its handshake."""
        return self._connected

    @property
    def device_failsafe(self) -> bool:
        """Whether the device's last HEARTBEAT said its own failsafe stopped the actuators."""
        return self._device_failsafe

    def counts(self) -> dict[str, int]:
        """A copy of this side's counters (keys as in :class:`LinkStats`)."""
        return dict(self._counts)

    def decoder_counters(self) -> DecoderCounters:
        return self._decoder.counters()

    # -- frames ------------------------------------------------------------------------------
    def _send_hello(self, now: float) -> None:
        self._hello_attempts += 1
        self._hello_sent_s = now
        try:
            # The leading 0x00 ends any half frame the device's decoder still holds.
            self._send(b"\x00" + encode_frame(self.next_seq(), HOST_HELLO))
        except LinkError as exc:
            raise LinkError(f"HELLO not sent: {exc}") from exc

    def _handle(self, frame: Frame, now: float) -> None:
        msg = frame.message
        if isinstance(msg, Hello):
            self._on_hello(msg, now)
        elif isinstance(msg, Sensor):
            self._on_sensor(frame.seq, msg, now)
        elif isinstance(msg, (Ack, Nack)):
            self._counts["acks" if isinstance(msg, Ack) else "nacks"] += 1
            if isinstance(msg, Ack) and msg.status == ACK_STATUS_DUPLICATE:
                self._counts["duplicate_acks"] += 1
            with self._lock:
                pending = self._pending.get(msg.acked_seq)
                if pending is not None:
                    pending.reply = msg
                    pending.event.set()
        elif isinstance(msg, Heartbeat):
            self._counts["heartbeats_rx"] += 1
            if msg.host_seq is not None:
                with self._status_cond:
                    self._status = msg
                    self._status_serial += 1
                    self._status_cond.notify_all()
            failsafe = bool(msg.flags & HEARTBEAT_FLAG_FAILSAFE)
            if failsafe and not self._device_failsafe:
                device = self._device
                log.warning(
                    "%s: the device's own failsafe stopped its actuators", device.name if device else self.name
                )
            self._device_failsafe = failsafe

    def _on_hello(self, hello: Hello, now: float) -> None:
        if hello.protocol_version != PROTOCOL_VERSION:
            log.error("%s speaks protocol v%d; this host speaks v1", hello.name, hello.protocol_version)
            return
        self._clock.reset()  # a HELLO means a (re)started device: its millis() restarted
        self._device = hello
        self._last_rx_s = now
        if self._connected:
            return  # the device restarted without going silent: same connection, new HELLO
        if self._ever_connected:
            self._counts["reconnects"] += 1
            log.info("link to %s is back", self.name)
        self._ever_connected = True
        self._connected = True
        with self._lock:
            self._session = next(_SESSION_IDS)
            self._status = None  # the device's report from before the handshake is of another session
        self._on_connected(hello)

    def _on_sensor(self, seq: int, msg: Sensor, now: float) -> None:
        self._counts["sensor_frames"] += 1
        if not self._connected:
            # Until this connection's HELLO has described the channels, values have no names or
            # scale (raw 423 would be passed on as 423.0, not distance_cm=42.3): drop and count.
            self._counts["readings_before_handshake"] += 1
            return
        device = self._device
        channels = device.channels if device else ()
        values: dict[str, float] = {}
        for i, raw in enumerate(msg.values):
            if i < len(channels):
                values[channels[i].name] = scale_value(raw, channels[i].exponent)
            else:
                values[f"ch{i}"] = float(raw)
        wall_minus_mono = self._wall_s() - self._monotonic_s()
        taken_s = self._clock.to_host(msg.mcu_time_ms, now) + wall_minus_mono
        self._on_reading(SensorReading(values, taken_s, now + wall_minus_mono, msg.mcu_time_ms, seq, self.name))
