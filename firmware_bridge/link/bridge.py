"""BridgeLink: one serial link to a device speaking the binary protocol.

Three parts, composed as in pyserial's ``serial.threaded``: a :class:`PortReader` thread owns the
port (reads it, reopens it when a USB board is unplugged and plugged back), a :class:`LinkProtocol`
is fed its bytes (handshake, readings, ACK matching, HEARTBEAT, silence), and this class is the
public face that turns the protocol's events into states and callbacks.

Callers send commands from any thread; each waits for its ACK with a timeout and resends the same
sequence number. A device with the ``once`` capability applies a sequence number once and ACKs a
resend as a duplicate, so a command takes effect at most once; after a timeout,
:meth:`BridgeLink.command_fate` asks the device whether it was applied. Readings are
delivered to a callback on a dispatcher thread and kept as "latest reading" with the MCU's clock
mapped to host time.

State: CLOSED → CONNECTING → CONNECTED ⇄ RECONNECTING → CLOSED (after close()).

The receive side is in :mod:`firmware_bridge.link.protocol`, the port's thread in
:mod:`firmware_bridge.link.reader`, command checks and results in :mod:`firmware_bridge.link.commands`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from firmware_bridge.config import BridgeConfig
from firmware_bridge.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    HandshakeError,
    LinkDownError,
    LinkError,
)
from firmware_bridge.link.commands import CommandFate, CommandResult, ask_fate, resolve_actuator
from firmware_bridge.link.dispatch import CallbackDispatcher
from firmware_bridge.link.protocol import HOST_HELLO, LinkProtocol
from firmware_bridge.link.reader import READ_TIMEOUT_S, PortReader
from firmware_bridge.link.reading import LatestReading, SensorReading
from firmware_bridge.link.stats import LatencyWindow, LinkStats
from firmware_bridge.link.transport import open_port
from firmware_bridge.protocol.messages import (
    ACK_STATUS_DUPLICATE,
    Ack,
    Command,
    Hello,
    Nack,
    NackReason,
    encode_frame,
)

__all__ = ["HOST_HELLO", "BridgeLink", "CommandFate", "CommandResult", "LinkState"]

log = logging.getLogger(__name__)


class LinkState(str, Enum):
    """CLOSED → CONNECTING → CONNECTED ⇄ RECONNECTING → CLOSED (after close())."""

    CLOSED = "closed"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


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
        self._cond = threading.Condition()  # guards state and the latest reading
        self._reader: PortReader | None = None
        self._closing = threading.Event()
        self._latest = LatestReading(self._cond)
        self._latency = LatencyWindow()
        self._dispatcher: CallbackDispatcher[Any] | None = None
        self._reader_failure: BaseException | None = None  # kept after close() from the last reader
        # The protocol lives as long as the link, so its counters are totals across connect() calls.
        self._protocol = LinkProtocol(
            url,
            self.config,
            send=self._write,
            on_connected=self._handshake_done,
            on_reading=self._reading_received,
            on_lost=self._link_lost,
        )
        # The send side's counters; the protocol keeps those of the receive side.
        self._counts = dict.fromkeys(("bytes_tx", "frames_tx", "commands_sent", "retries", "command_timeouts"), 0)

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
        reopen = functools.partial(
            open_port,
            self.url,
            baudrate=self.config.baudrate,
            timeout_s=READ_TIMEOUT_S,
            exclusive=self.config.exclusive,
        )
        try:
            port = reopen()  # here, not on the reader, so that PortBusyError reaches the caller
        except LinkError:
            self.close()
            raise
        self._reader = PortReader(
            self.url,
            self._protocol,
            reopen,
            reconnect=self.config.reconnect,
            reconnect_interval_s=self.config.reconnect_interval_s,
            thread_name=f"firmware-bridge-reader:{self.url}",
        )
        self._reader.start(port)  # the reader's first act is the protocol's HELLO
        budget_s = (
            self.config.handshake_timeout_s * self.config.handshake_attempts + 0.5
        )
        if not self.wait_connected(budget_s):
            counters = self._protocol.decoder_counters()
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
        if reader is not None:
            reader.stop(timeout_s=2.0)
            self._reader_failure = self._reader_failure or reader.failure
        self._protocol.cancel_pending()
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
        return self._protocol.device

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
        return self._latest.get(max_age_s)

    def wait_for_reading(self, timeout_s: float) -> SensorReading:
        """Block for the next reading that arrives after this call; LinkDownError on timeout."""
        reading = self._latest.wait_next(timeout_s, self._closing)
        if reading is not None:
            return reading
        self._raise_if_reader_failed()
        if self._closing.is_set():
            raise LinkDownError(f"link to {self.url} was closed")
        raise LinkDownError(
            f"no SENSOR frame from {self.url} within {timeout_s} s (state {self.state.value})"
        )

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
        CommandTimeoutError (no ACK after all retries: the device may still have applied it, ask
        :meth:`command_fate`) or LinkDownError (closed / not back in time). A resend is the same
        frame, and a device with the ``once`` capability applies it once: ``result.duplicate``
        then says the effect came from an earlier attempt whose ACK was lost.
        """
        timeout_s = self.config.command_timeout_s if timeout_s is None else timeout_s
        retries = self.config.command_retries if retries is None else retries
        budget_s = timeout_s * (retries + 1)
        if not self.wait_connected(budget_s):
            self._raise_if_reader_failed()
            raise LinkDownError(
                f"cannot send to {self.url}: link is {self.state.value} (waited {budget_s:.2f} s)"
            )
        session = self._protocol.session
        actuator_id, name = resolve_actuator(
            self.device, self.device_name, actuator, value
        )
        seq, pending = self._protocol.expect_reply()
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
                    status = pending.reply.status
                    duplicate = None if status is None else status == ACK_STATUS_DUPLICATE
                    return CommandResult(name, value, seq, attempt, latency_ms, duplicate)
                if self._closing.is_set():
                    raise LinkDownError(
                        f"link to {self.url} was closed while waiting for ACK of {name}={value}"
                    )
                pending.event.clear()
            self._counts["command_timeouts"] += 1
            raise CommandTimeoutError(
                f"no ACK from {self.url} for {name}={value} (seq {seq}) after {retries + 1} attempts of "
                f"{timeout_s} s; the device may have applied it (an ACK can be lost after the command "
                "arrived): BridgeLink.command_fate(error) asks the device",
                seq=seq, actuator=name, value=value, session=session,
            )  # fmt: skip
        finally:
            self._protocol.forget_reply(seq)

    def command_fate(self, error: CommandTimeoutError, timeout_s: float = 1.0) -> CommandFate:
        """Whether the device applied the command that raised ``error``: applied, not_applied, unknown.

        ``unknown`` when the device cannot tell within ``timeout_s``: it lacks the ``once``
        capability, the link was re-established since (the device forgot), or the command is more
        than 64 frames old.
        """
        fate = ask_fate(self._protocol, error.seq, error.session, timeout_s)
        log.info("%s=%s (seq %d) after its timeout: %s", error.actuator, error.value, error.seq, fate.value)
        return fate

    @property
    def reader_failure(self) -> BaseException | None:
        """The exception that ended the reader thread, if it failed (it then stopped for good)."""
        reader = self._reader
        return reader.failure if reader is not None else self._reader_failure

    def _raise_if_reader_failed(self) -> None:
        failure = self.reader_failure
        if failure is not None:
            raise LinkError(f"the reader thread of {self.url} failed: {failure!r}") from failure

    @property
    def device_name(self) -> str:
        device = self.device
        return device.name if device else self.url

    def stats(self) -> LinkStats:
        """A snapshot of every counter and of the command latency window."""
        c = self._protocol.decoder_counters()
        d = self._dispatcher
        return LinkStats(
            state=self.state.value, frames_ok=c.frames_ok, crc_errors=c.crc_errors, cobs_errors=c.cobs_errors,
            malformed=c.malformed, oversize=c.oversize, resyncs=c.resyncs, bytes_rx=c.bytes_in,
            device_failsafe=self._protocol.device_failsafe, callback_errors=d.errors if d else 0,
            callback_drops=d.drops if d else 0, latency_p50_ms=self._latency.percentile(50),
            latency_p99_ms=self._latency.percentile(99), latency_max_ms=self._latency.percentile(100),
            reader_failures=int(self.reader_failure is not None), **self._counts, **self._protocol.counts(),
        )  # fmt: skip

    def latencies_ms(self) -> list[float]:
        return self._latency.values()

    # -- helpers -----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        """Write one frame (commands from any thread, HELLO and HEARTBEAT from the protocol)."""
        reader = self._reader
        try:
            if reader is None:
                raise LinkDownError(f"{self.url} is not open")
            reader.write(data)
        except LinkDownError:
            raise LinkDownError(f"link to {self.url} is {self.state.value}") from None
        self._counts["bytes_tx"] += len(data)
        self._counts["frames_tx"] += 1

    # The protocol's events; they run on the reader thread.
    def _handshake_done(self, device: Hello) -> None:
        self._set_state(LinkState.CONNECTED)

    def _reading_received(self, reading: SensorReading) -> None:
        self._latest.put(reading)
        if self._on_reading is not None and self._dispatcher is not None:
            self._dispatcher.submit(reading)

    def _link_lost(self) -> None:
        if self._closing.is_set():
            return  # close() is under way: the link ends CLOSED, not RECONNECTING
        if self.reader_failure is not None:
            self._closing.set()  # the reader is gone for good: nothing will reconnect
            self._set_state(LinkState.CLOSED)
            return
        if not self.config.reconnect:
            self._closing.set()  # set first, so the waiters the state change wakes see it
        self._set_state(LinkState.RECONNECTING)

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
