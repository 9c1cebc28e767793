"""The one exception tree of ``firmware_bridge``.

Every error the bridge raises on purpose is a :class:`BridgeError`. Each subclass also subclasses
the matching builtin, so ``except OSError`` or ``except ValueError`` keeps working for callers that
do not know this package::

    BridgeError
    ├── ProtocolError(ValueError)          bytes on the wire are not a valid frame or message
    ├── BridgeConfigError(ValueError)      an option of a config dataclass is invalid
    ├── LinkError(OSError)                 the serial link failed
    │   ├── PortBusyError                  another process holds the port's exclusive lock
    │   ├── HandshakeError                 the device never answered HELLO
    │   ├── LinkDownError                  the link is closed or reconnecting
    │   └── CommandTimeoutError(TimeoutError)   no ACK after every retry
    ├── CommandError(ValueError)           a command names an unknown actuator or a value out of range
    ├── CommandRejectedError(RuntimeError) the device answered NACK; ``reason`` says why
    ├── FirmwareBuildError(RuntimeError)   gcc / avr-gcc could not build the reference firmware
    ├── SimulatorError(RuntimeError)       the host simulator did not start or died
    └── MissingDependencyError(ImportError)   pyserial is not installed

Errors from pyserial and the OS are translated at the boundary with ``raise ... from exc`` so the
original stays attached. The decoder never raises on bad input: corrupt frames are counted.
"""

from __future__ import annotations

__all__ = [
    "BridgeConfigError",
    "BridgeError",
    "CommandError",
    "CommandRejectedError",
    "CommandTimeoutError",
    "FirmwareBuildError",
    "HandshakeError",
    "LinkDownError",
    "LinkError",
    "MissingDependencyError",
    "PortBusyError",
    "ProtocolError",
    "SimulatorError",
]


class BridgeError(Exception):
    """Base of every error raised on purpose by firmware_bridge."""


class ProtocolError(BridgeError, ValueError):
    """A frame or payload does not follow docs/serial-protocol.md.

    ``kind`` names the check that failed (``cobs``, ``short``, ``oversize``, ``crc``, ``version``,
    ``type``, ``payload``) so the decoder can count each kind separately.
    """

    def __init__(self, message: str, kind: str = "payload") -> None:
        super().__init__(message)
        self.kind = kind


class BridgeConfigError(BridgeError, ValueError):
    """A configuration value is out of range or inconsistent.

    ``field_name`` and ``detail`` are set when one field is at fault, so a loader (edge_sdk's
    configtools) can restate the error under the key path the user wrote (``bridge.baudrate``).
    """

    def __init__(self, message: str, field_name: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.field_name, self.detail = field_name, detail


class LinkError(BridgeError, OSError):
    """The serial link failed: port missing, I/O error, device silent."""


class PortBusyError(LinkError):
    """The port is locked by another process (exclusive access)."""


class HandshakeError(LinkError):
    """The device did not answer HELLO in time, or answered with an incompatible protocol."""


class LinkDownError(LinkError):
    """An operation needs a connected link but the link is closed or reconnecting."""


class CommandTimeoutError(LinkError, TimeoutError):
    """A command got no ACK after all its retries. The device may still have applied it.

    A frame can arrive while its ACK is lost on the way back, so a timeout does not mean "not
    applied". ``seq``, ``actuator``, ``value`` and ``session`` identify the command; pass the error
    to :meth:`BridgeLink.command_fate` to ask the device (``applied``, ``not_applied``, ``unknown``).
    """

    def __init__(
        self, message: str, *, seq: int = -1, actuator: str = "", value: int = 0, session: int = -1
    ) -> None:
        super().__init__(message)
        self.seq, self.actuator, self.value, self.session = seq, actuator, value, session


class CommandError(BridgeError, ValueError):
    """A command cannot be sent as given: unknown actuator, or a value outside its declared range."""


class CommandRejectedError(BridgeError, RuntimeError):
    """The device answered a command with NACK."""

    def __init__(self, message: str, reason: int) -> None:
        super().__init__(message)
        self.reason = reason


class FirmwareBuildError(BridgeError, RuntimeError):
    """Building the reference firmware (host simulator or AVR image) failed."""


class SimulatorError(BridgeError, RuntimeError):
    """The host simulator failed to start, or exited unexpectedly."""


class MissingDependencyError(BridgeError, ImportError):
    """An optional dependency is missing; the message says what to install."""
