"""BridgeLink: one serial link to a device speaking the binary protocol.

A named reader thread owns the port: it decodes frames, answers nothing on its own but sends the
host's HELLO and HEARTBEAT, notices silence (link lost), and reopens the port when it comes back,
as a USB board does when unplugged and plugged in again. Callers send commands from any thread;
each waits for its ACK with a timeout and resends the same sequence number (setting an actuator
is idempotent, so a duplicate is harmless). Readings are delivered to a callback on a dispatcher
thread and kept as "latest reading" with the MCU's clock mapped to host time.

State: CLOSED → CONNECTING → CONNECTED ⇄ RECONNECTING → CLOSED (after close()).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from firmware_bridge.clock import ClockMapper
from firmware_bridge.config import BridgeConfig
from firmware_bridge.decoder import FrameDecoder
from firmware_bridge.dispatch import CallbackDispatcher
from firmware_bridge.errors import (
    CommandError,
    CommandRejectedError,
    CommandTimeoutError,
    HandshakeError,
    LinkDownError,
    LinkError,
)
from firmware_bridge.messages import (
    HEARTBEAT_FLAG_FAILSAFE,
    Ack,
    Command,
    Frame,
    Heartbeat,
    Hello,
    Nack,
    NackReason,
    Sensor,
    encode_frame,
)
from firmware_bridge.reading import SensorReading
from firmware_bridge.stats import LatencyWindow, LinkStats
from firmware_bridge.transport import open_port

__all__ = ["HOST_HELLO", "BridgeLink", "CommandResult", "LinkState"]

log = logging.getLogger(__name__)

HOST_HELLO = Hello(name="edge-sdk-host", firmware_version=(0, 1, 0))
_READ_TIMEOUT_S = (
    0.02  # how often the reader wakes without data, for heartbeats and checks
)


def _scale(raw: int, exponent: int) -> float:
    # Divide for negative exponents: 423 / 10 is 42.3 exactly as printed, 423 * 0.1 is not.
    return raw / 10.0**-exponent if exponent < 0 else float(raw * 10**exponent)


class LinkState(str, Enum):
    CLOSED = "closed"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True)
class CommandResult:
    """An acknowledged command."""

    actuator: str
    value: int
    seq: int
    attempts: int
    latency_ms: float  # first send to ACK


class _Pending:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Ack | Nack | None = None


class BridgeLink:
    """A link to a device at ``url``; prefer :meth:`open`, which connects and handshakes.

    ``on_reading`` and ``on_state`` run on a dispatcher thread, never on the reader thread.
    """

    def __init__(
        self,
        url: str,
        config: BridgeConfig | None = None,
        *,
        on_reading: Callable[[SensorReading], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
    ) -> None:
        self.url = url
        self.config = config or BridgeConfig()
        self._on_reading = on_reading
        self._on_state = on_state
        self._state = LinkState.CLOSED
        self._cond = (
            threading.Condition()
        )  # guards state, device, latest reading, pending
        self._write_lock = threading.Lock()
        self._port: Any = None
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._decoder = FrameDecoder()
        self._clock = ClockMapper(self.config.clock_window_s)
        self._device: Hello | None = None
        self._latest: SensorReading | None = None
        self._pending: dict[int, _Pending] = {}
        self._tx_seq = 0
        self._latency = LatencyWindow()
        self._dispatcher: CallbackDispatcher[Any] | None = None
        self._hello_sent_s = 0.0
        self._hello_attempts = 0
        self._last_rx_s = 0.0
        self._last_hb_tx_s = 0.0
        self._ever_connected = False
        self._device_failsafe = False
        self._counts = dict.fromkeys(
            ("bytes_tx", "frames_tx", "sensor_frames", "heartbeats_rx", "commands_sent", "acks", "nacks",
             "retries", "command_timeouts", "link_losses", "reconnects"), 0)  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str,
        config: BridgeConfig | None = None,
        *,
        on_reading: Callable[[SensorReading], None] | None = None,
        on_state: Callable[[LinkState], None] | None = None,
    ) -> BridgeLink:
        """Open ``url``, lock it, handshake; raises PortBusyError, LinkError or HandshakeError."""
        link = cls(url, config, on_reading=on_reading, on_state=on_state)
        link.connect()
        return link

    def connect(self) -> None:
        """Open the port and wait for the device's HELLO (see :meth:`open`)."""
        with self._cond:
            if self._state is not LinkState.CLOSED or self._reader is not None:
                raise LinkError(
                    f"link to {self.url} is already {self._state.value}; open a new BridgeLink"
                )
        self._closing.clear()
        self._dispatcher = CallbackDispatcher(
            f"firmware-bridge-callbacks:{self.url}",
            self._dispatch,
            self.config.callback_queue,
        )
        self._set_state(LinkState.CONNECTING)
        try:
            self._port = open_port(
                self.url,
                baudrate=self.config.baudrate,
                timeout_s=_READ_TIMEOUT_S,
                exclusive=self.config.exclusive,
            )
        except LinkError:
            self.close()
            raise
        self._start_handshake(time.monotonic())
        self._reader = threading.Thread(
            target=self._run, name=f"firmware-bridge-reader:{self.url}", daemon=True
        )
        self._reader.start()
        budget_s = (
            self.config.handshake_timeout_s * self.config.handshake_attempts + 0.5
        )
        if not self.wait_connected(budget_s):
            counters = self._decoder.counters()
            self.close()
            raise HandshakeError(
                f"{self.url} did not answer HELLO within {budget_s:.1f} s. Expected a HELLO frame "
                f"(protocol v1). Got: {counters.frames_ok} valid frames, {counters.resyncs} corrupt, "
                f"{counters.bytes_in} bytes (a line-mode sketch or a wrong baud rate looks like this)"
            )

    def close(self) -> None:
        """Stop the reader, release the port and its lock, fail pending commands. Idempotent."""
        self._closing.set()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2.0)
        self._close_port()
        with self._cond:
            for pending in self._pending.values():
                pending.event.set()
        self._set_state(LinkState.CLOSED)
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.close()

    def __enter__(self) -> BridgeLink:  # noqa: PYI034 (not meant for subclassing)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        with self._cond:
            return self._state

    @property
    def device(self) -> Hello | None:
        """The device's HELLO: name, version, channels, actuators (None before the handshake)."""
        with self._cond:
            return self._device

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until CONNECTED; False on timeout or if the link is closed."""
        with self._cond:
            return (
                self._cond.wait_for(
                    lambda: (
                        self._state in (LinkState.CONNECTED, LinkState.CLOSED)
                        or self._closing.is_set()
                    ),
                    timeout_s,
                )
                and self._state is LinkState.CONNECTED
            )

    def latest_reading(self, max_age_s: float | None = None) -> SensorReading | None:
        """The newest reading, or None if there is none or it is older than ``max_age_s``."""
        with self._cond:
            reading = self._latest
        if (
            reading is not None
            and max_age_s is not None
            and reading.age_s(time.time()) > max_age_s
        ):
            return None
        return reading

    def wait_for_reading(self, timeout_s: float) -> SensorReading:
        """Block for the next reading that arrives after this call; LinkDownError on timeout."""
        with self._cond:
            before = self._latest
            if not self._cond.wait_for(
                lambda: self._latest is not before or self._closing.is_set(), timeout_s
            ):
                raise LinkDownError(
                    f"no SENSOR frame from {self.url} within {timeout_s} s (state {self._state.value})"
                )
            if self._latest is before:
                raise LinkDownError(f"link to {self.url} was closed")
            assert self._latest is not None
            return self._latest

    def send_command(
        self,
        actuator: str | int,
        value: int,
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> CommandResult:
        """Set ``actuator`` (name or index) to ``value`` and wait for the device's ACK.

        Raises CommandError (unknown actuator, value out of range), CommandRejectedError (NACK),
        CommandTimeoutError (no ACK after all retries) or LinkDownError (closed / not back in time).
        """
        timeout_s = self.config.command_timeout_s if timeout_s is None else timeout_s
        retries = self.config.command_retries if retries is None else retries
        budget_s = timeout_s * (retries + 1)
        if not self.wait_connected(budget_s):
            raise LinkDownError(
                f"cannot send to {self.url}: link is {self.state.value} (waited {budget_s:.2f} s)"
            )
        actuator_id, name = self._resolve(actuator, value)
        with self._cond:
            seq = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 0xFF
            pending = self._pending[seq] = _Pending()
        frame = encode_frame(seq, Command(actuator_id, value))
        started = time.monotonic()
        try:
            for attempt in range(1, retries + 2):
                if attempt > 1:
                    self._counts["retries"] += 1
                    if not self.wait_connected(timeout_s):
                        continue
                try:
                    self._write(frame)
                except LinkError as exc:
                    log.debug("command %s=%s attempt %d: %s", name, value, attempt, exc)
                self._counts["commands_sent"] += 1
                if pending.event.wait(timeout_s) and isinstance(
                    pending.reply, (Ack, Nack)
                ):
                    latency_ms = (time.monotonic() - started) * 1000.0
                    if isinstance(pending.reply, Nack):
                        reason = pending.reply.reason
                        label = (
                            NackReason(reason).name
                            if reason in NackReason._value2member_map_
                            else str(reason)
                        )
                        raise CommandRejectedError(
                            f"{self.device_name} refused {name}={value}: NACK {label}",
                            reason,
                        )
                    self._latency.add(latency_ms)
                    return CommandResult(name, value, seq, attempt, latency_ms)
                if self._closing.is_set():
                    raise LinkDownError(
                        f"link to {self.url} was closed while waiting for ACK of {name}={value}"
                    )
                pending.event.clear()
            self._counts["command_timeouts"] += 1
            raise CommandTimeoutError(
                f"no ACK from {self.url} for {name}={value} (seq {seq}) after {retries + 1} attempts of {timeout_s} s"
            )
        finally:
            with self._cond:
                self._pending.pop(seq, None)

    @property
    def device_name(self) -> str:
        device = self.device
        return device.name if device else self.url

    def stats(self) -> LinkStats:
        """A snapshot of every counter and of the command latency window."""
        c = self._decoder.counters()
        d = self._dispatcher
        return LinkStats(
            state=self.state.value, frames_ok=c.frames_ok, crc_errors=c.crc_errors, cobs_errors=c.cobs_errors,
            malformed=c.malformed, oversize=c.oversize, resyncs=c.resyncs, bytes_rx=c.bytes_in,
            device_failsafe=self._device_failsafe, callback_errors=d.errors if d else 0,
            callback_drops=d.drops if d else 0, latency_p50_ms=self._latency.percentile(50),
            latency_p99_ms=self._latency.percentile(99), latency_max_ms=self._latency.percentile(100),
            **self._counts,
        )  # fmt: skip

    def latencies_ms(self) -> list[float]:
        return self._latency.values()

    # -- reader thread -----------------------------------------------------------------------
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
                timeout_s=_READ_TIMEOUT_S,
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
                values[channels[i].name] = _scale(raw, channels[i].exponent)
            else:
                values[f"ch{i}"] = float(raw)
        wall_minus_mono = time.time() - time.monotonic()
        taken_s = self._clock.to_host(msg.mcu_time_ms, now) + wall_minus_mono
        reading = SensorReading(
            values, taken_s, now + wall_minus_mono, msg.mcu_time_ms, seq, self.url
        )
        with self._cond:
            self._latest = reading
            self._cond.notify_all()
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

    # -- helpers -----------------------------------------------------------------------------
    def _resolve(self, actuator: str | int, value: int) -> tuple[int, str]:
        device = self._device
        actuators = device.actuators if device else ()
        if isinstance(actuator, str):
            names = [a.name for a in actuators]
            if actuator not in names:
                raise CommandError(
                    f"unknown actuator {actuator!r}. {self.device_name} has: {', '.join(names) or 'none'}"
                )
            index = names.index(actuator)
        else:
            index = actuator
            if not 0 <= index < len(actuators):
                raise CommandError(
                    f"actuator index must be 0..{len(actuators) - 1}. Got: {index}"
                )
        info = actuators[index]
        if not info.min_value <= value <= info.max_value:
            raise CommandError(
                f"{info.name} value must be within [{info.min_value}, {info.max_value}]. Got: {value}"
            )
        return index, info.name

    def _next_seq(self) -> int:
        with self._cond:
            seq = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) & 0xFF
            return seq

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            port = self._port
            if port is None:
                raise LinkDownError(f"link to {self.url} is {self.state.value}")
            try:
                port.write(data)
            except Exception as exc:  # SerialException, SerialTimeoutException, OSError
                raise LinkError(f"write to {self.url} failed: {exc}") from exc
        self._counts["bytes_tx"] += len(data)
        self._counts["frames_tx"] += 1

    def _close_port(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception as exc:  # noqa: BLE001 -- closing a vanished device can fail; the fd is gone anyway
                log.debug("closing %s: %s", self.url, exc)

    def _set_state(self, state: LinkState) -> None:
        with self._cond:
            if self._state is state:
                return
            self._state = state
            self._cond.notify_all()
        if self._on_state is not None and self._dispatcher is not None:
            self._dispatcher.submit(state)

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, LinkState):
            if self._on_state is not None:
                self._on_state(item)
        elif self._on_reading is not None:
            self._on_reading(item)
