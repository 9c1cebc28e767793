"""Commands as the host sends them: actuator lookup and range check, the ACK wait slot, results.

Checking a command against the device's HELLO before sending turns a typo into an immediate
CommandError naming the valid actuators, instead of a NACK after a round trip. After a timeout,
:func:`ask_fate` asks the device whether the command was applied anyway.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from firmware_bridge.errors import CommandError, LinkError
from firmware_bridge.protocol.messages import CAP_ONCE, Ack, Hello, Nack

if TYPE_CHECKING:
    from firmware_bridge.link.protocol import LinkProtocol

__all__ = ["CommandFate", "CommandResult", "PendingCommand", "ask_fate", "resolve_actuator"]


class CommandFate(str, Enum):
    """What became of a command that got no ACK, as the device reports it."""

    APPLIED = "applied"  # the device applied it (only its ACKs were lost)
    NOT_APPLIED = "not_applied"  # the device saw later frames and never applied it
    UNKNOWN = "unknown"  # the device cannot say: no report in time, a restart, or an old firmware


@dataclass(frozen=True)
class CommandResult:
    """An acknowledged command.

    ``duplicate`` is True when the device answered "already applied": the command took effect once,
    on an earlier attempt whose ACK was lost, and the retry was not applied again. It is None when
    the device does not say (a firmware without the ``once`` capability).
    """

    actuator: str
    value: int
    seq: int
    attempts: int
    latency_ms: float  # first send to ACK
    duplicate: bool | None = None


class PendingCommand:
    """Where the receiver puts the ACK or NACK for one sequence number, and wakes the sender."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: Ack | Nack | None = None


def resolve_actuator(
    device: Hello | None, device_name: str, actuator: str | int, value: int
) -> tuple[int, str]:
    """``(index, name)`` of ``actuator`` (name or index) on ``device``, with ``value`` in range."""
    actuators = device.actuators if device else ()
    if isinstance(actuator, str):
        names = [a.name for a in actuators]
        if actuator not in names:
            raise CommandError(
                f"unknown actuator {actuator!r}. {device_name} has: {', '.join(names) or 'none'}"
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


def ask_fate(protocol: LinkProtocol, seq: int, session: int, timeout_s: float) -> CommandFate:
    """Ask the device whether the command with ``seq`` (sent in handshake ``session``) was applied.

    The host sends a status request (a HEARTBEAT with the request flag) and waits for a long
    HEARTBEAT that shows the device has seen the request: serial lines keep order, so every copy of
    the command reached the device before it, and the device's applied map is final for ``seq``.
    The request is resent every quarter of ``timeout_s`` because it or its answer may be lost too.
    """
    device = protocol.device
    if device is None or not device.capabilities & CAP_ONCE:
        return CommandFate.UNKNOWN  # an old firmware applies retries again and reports nothing
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or protocol.session != session or not protocol.connected:
            return CommandFate.UNKNOWN  # a new handshake: the device forgot what it applied
        try:
            request_seq, serial = protocol.request_status()
        except LinkError:
            return CommandFate.UNKNOWN
        status = protocol.wait_status(request_seq, serial, min(remaining, max(timeout_s / 4, 0.05)))
        if status is None:
            continue
        if protocol.session != session:
            return CommandFate.UNKNOWN
        applied = status.applied(seq)
        if applied is None:
            return CommandFate.UNKNOWN  # more than ONCE_HORIZON frames ago
        return CommandFate.APPLIED if applied else CommandFate.NOT_APPLIED
