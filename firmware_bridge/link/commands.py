"""Commands as the host sends them: actuator lookup and range check, the ACK wait slot, results.

Checking a command against the device's HELLO before sending turns a typo into an immediate
CommandError naming the valid actuators, instead of a NACK after a round trip.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from firmware_bridge.errors import CommandError
from firmware_bridge.protocol.messages import Ack, Hello, Nack

__all__ = ["CommandResult", "PendingCommand", "resolve_actuator"]


@dataclass(frozen=True)
class CommandResult:
    """An acknowledged command."""

    actuator: str
    value: int
    seq: int
    attempts: int
    latency_ms: float  # first send to ACK


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
