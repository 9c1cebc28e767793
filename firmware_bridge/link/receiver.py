"""The receive side of a BridgeLink: what its reader thread does.

The thread reads the port, feeds the frame decoder and dispatches each frame (HELLO completes the
handshake, SENSOR becomes a SensorReading, ACK/NACK wake the waiting command, HEARTBEAT reports
the device's failsafe). Between reads it sends the host's HELLO until the device answers and a
HEARTBEAT while connected, declares the link lost after silence and reopens the port, as a USB
board needs when unplugged and plugged back.

:class:`LinkReceiver` is a mixin of :class:`~firmware_bridge.link.BridgeLink`: it runs only on
the reader thread and shares the link's state (declared below), so that the public API and the
receive path live in separate modules without a second lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from firmware_bridge.config import BridgeConfig
from firmware_bridge.errors import LinkError
from firmware_bridge.link.clock import ClockMapper
from firmware_bridge.link.commands import PendingCommand
from firmware_bridge.link.dispatch import CallbackDispatcher
from firmware_bridge.link.link_state import LinkState
from firmware_bridge.link.reading import LatestReading, SensorReading
from firmware_bridge.link.transport import open_port
from firmware_bridge.protocol.decoder import FrameDecoder
from firmware_bridge.protocol.messages import (
    HEARTBEAT_FLAG_FAILSAFE,
    Ack,
    Frame,
    Heartbeat,
    Hello,
    Nack,
    Sensor,
    encode_frame,
)

__all__ = ["HOST_HELLO", "READ_TIMEOUT_S", "LinkReceiver", "scale_value"]

log = logging.getLogger("firmware_bridge.link.bridge")  # one logger for the whole link

HOST_HELLO = Hello(name="edge-sdk-host", firmware_version=(0, 1, 0))
READ_TIMEOUT_S = (
    0.02  # how often the reader wakes without data, for heartbeats and checks
)


def scale_value(raw: int, exponent: int) -> float:
    """A channel's raw integer in physical units (``raw * 10**exponent``)."""
    # Divide for negative exponents: 423 / 10 is 42.3 exactly as printed, 423 * 0.1 is not.
    return raw / 10.0**-exponent if exponent < 0 else float(raw * 10**exponent)


class LinkReceiver:
    """The reader thread's half of BridgeLink (see the module docstring)."""

    # State shared with BridgeLink, which creates it in __init__.
    url: str
    config: BridgeConfig
    _cond: threading.Condition
    _closing: threading.Event
    _port: Any
    _state: LinkState
    _decoder: FrameDecoder
    _clock: ClockMapper
    _device: Hello | None
    _latest: LatestReading
    _pending: dict[int, PendingCommand]
    _dispatcher: CallbackDispatcher[Any] | None
    _on_reading: Callable[[SensorReading], None] | None
    _counts: dict[str, int]
    _hello_sent_s: float
    _hello_attempts: int
    _last_rx_s: float
    _last_hb_tx_s: float
    _ever_connected: bool
    _device_failsafe: bool

    # Provided by BridgeLink.
    device_name: Any  # a property there
    _write: Callable[[bytes], None]
    _next_seq: Callable[[], int]
    _close_port: Callable[[], None]
    _set_state: Callable[[LinkState], None]

    def _run(self) -> None:
        while not self._closing.is_set():
            port = self._port
            if port is None:
                self._try_reopen()
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # noqa: BLE001 -- pyserial raises SerialException, OSError, TypeError on a vanished fd
                self._lose(f"read failed: {exc}")
                continue
            now = time.monotonic()
            if data:
                self._last_rx_s = (
                    now if self._state is LinkState.CONNECTED else self._last_rx_s
                )
                for frame in self._decoder.feed(data):
                    self._handle(frame, now)
            self._housekeeping(now)

    def _try_reopen(self) -> None:
        if not self.config.reconnect:
            self._closing.set()
            return
        try:
            port = open_port(
                self.url,
                baudrate=self.config.baudrate,
                timeout_s=READ_TIMEOUT_S,
                exclusive=self.config.exclusive,
            )
        except LinkError as exc:
            log.debug("reopen %s: %s", self.url, exc)
            self._closing.wait(self.config.reconnect_interval_s)
            return
        self._port = port
        self._decoder.reset()
        self._start_handshake(time.monotonic())

    def _start_handshake(self, now: float) -> None:
        self._hello_attempts = 0
        self._send_hello(now)

    def _send_hello(self, now: float) -> None:
        self._hello_attempts += 1
        self._hello_sent_s = now
        try:
            # The leading 0x00 ends any half frame the device's decoder still holds.
            self._write(b"\x00" + encode_frame(self._next_seq(), HOST_HELLO))
        except LinkError as exc:
            self._lose(f"HELLO not sent: {exc}")

    def _housekeeping(self, now: float) -> None:
        state = self._state
        if state is LinkState.CONNECTED:
            if now - self._last_rx_s > self.config.link_timeout_s:
                self._lose(f"device silent for {now - self._last_rx_s:.2f} s")
            elif now - self._last_hb_tx_s >= self.config.heartbeat_interval_s:
                self._last_hb_tx_s = now
                try:
                    self._write(
                        encode_frame(
                            self._next_seq(), Heartbeat(int(now * 1000) & 0xFFFFFFFF)
                        )
                    )
                except LinkError as exc:
                    self._lose(f"heartbeat not sent: {exc}")
        elif (
            self._port is not None
            and now - self._hello_sent_s > self.config.handshake_timeout_s
            # After a replug, keep trying for as long as it takes; at first, connect() gives up.
            and (
                self._hello_attempts < self.config.handshake_attempts
                or self._ever_connected
            )
        ):
            self._send_hello(now)

    def _handle(self, frame: Frame, now: float) -> None:
        msg = frame.message
        if isinstance(msg, Hello):
            self._on_hello(msg, now)
        elif isinstance(msg, Sensor):
            self._on_sensor(frame.seq, msg, now)
        elif isinstance(msg, (Ack, Nack)):
            self._counts["acks" if isinstance(msg, Ack) else "nacks"] += 1
            with self._cond:
                pending = self._pending.get(msg.acked_seq)
                if pending is not None:
                    pending.reply = msg
                    pending.event.set()
        elif isinstance(msg, Heartbeat):
            self._counts["heartbeats_rx"] += 1
            failsafe = bool(msg.flags & HEARTBEAT_FLAG_FAILSAFE)
            if failsafe and not self._device_failsafe:
                log.warning(
                    "%s: the device's own failsafe stopped its actuators",
                    self.device_name,
                )
            self._device_failsafe = failsafe

    def _on_hello(self, hello: Hello, now: float) -> None:
        if hello.protocol_version != 1:
            log.error(
                "%s speaks protocol v%d; this host speaks v1",
                hello.name,
                hello.protocol_version,
            )
            return
        self._clock.reset()  # a HELLO means a (re)started device: its millis() restarted
        with self._cond:
            self._device = hello
            reconnect = self._ever_connected and self._state is not LinkState.CONNECTED
        self._last_rx_s = now
        if self._state is not LinkState.CONNECTED:
            if reconnect:
                self._counts["reconnects"] += 1
                log.info("link to %s is back", self.url)
            self._ever_connected = True
            self._set_state(LinkState.CONNECTED)

    def _on_sensor(self, seq: int, msg: Sensor, now: float) -> None:
        self._counts["sensor_frames"] += 1
        device = self._device
        channels = device.channels if device else ()
        values: dict[str, float] = {}
        for i, raw in enumerate(msg.values):
            if i < len(channels):
                values[channels[i].name] = scale_value(raw, channels[i].exponent)
            else:
                values[f"ch{i}"] = float(raw)
        wall_minus_mono = time.time() - time.monotonic()
        taken_s = self._clock.to_host(msg.mcu_time_ms, now) + wall_minus_mono
        reading = SensorReading(
            values, taken_s, now + wall_minus_mono, msg.mcu_time_ms, seq, self.url
        )
        self._latest.put(reading)
        if self._on_reading is not None and self._dispatcher is not None:
            self._dispatcher.submit(reading)

    def _lose(self, reason: str) -> None:
        if self._closing.is_set():
            return
        log.warning("link to %s lost: %s", self.url, reason)
        self._counts["link_losses"] += 1
        self._close_port()
        self._set_state(LinkState.RECONNECTING)
        if not self.config.reconnect:
            self._closing.set()
