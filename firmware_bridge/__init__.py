"""firmware_bridge: a reliable serial link to microcontrollers, with a reference C firmware.

Importing does no I/O and loads nothing but this file: each name loads its module on first use
(PEP 562), so ``import firmware_bridge.config`` stays cheap for the device config. pyserial loads
when a port is opened. The
protocol is specified in docs/serial-protocol.md; the C core lives in ``firmware/``.
Simulators and firmware builders are development tools: import them from :mod:`firmware_bridge.tools`.

Typical use::

    from firmware_bridge import BridgeLink, ActionController, ActionsConfig, ActionRule

    with BridgeLink.open("/dev/serial/by-id/usb-Arduino...") as link:
        link.send_command("motor_left", 500)          # waits for the ACK, retries
        reading = link.latest_reading(max_age_s=0.2)  # SensorReading, MCU clock mapped to host time
"""

import importlib as _importlib
import sys as _sys
import typing as _typing

if _typing.TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use
    from firmware_bridge.config import (
        ActionRule,
        ActionsConfig,
        BridgeConfig,
        LineModeConfig,
    )
    from firmware_bridge.errors import (
        BridgeConfigError,
        BridgeError,
        CommandError,
        CommandRejectedError,
        CommandTimeoutError,
        FirmwareBuildError,
        HandshakeError,
        LinkDownError,
        LinkError,
        MissingDependencyError,
        PortBusyError,
        ProtocolError,
        SimulatorError,
    )
    from firmware_bridge.link.actions import ActionController, ActionStats
    from firmware_bridge.link.bridge import BridgeLink, CommandFate, CommandResult, LinkState
    from firmware_bridge.link.clock import ClockMapper
    from firmware_bridge.link.linemode import LineParser, LineReader
    from firmware_bridge.link.ports import PortInfo, list_ports
    from firmware_bridge.link.reading import SensorReading
    from firmware_bridge.link.stats import LinkStats
    from firmware_bridge.protocol.codec import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, MessageType
    from firmware_bridge.protocol.decoder import DecoderCounters, FrameDecoder
    from firmware_bridge.protocol.messages import (
        Ack,
        ActuatorInfo,
        ChannelInfo,
        Command,
        Frame,
        Heartbeat,
        Hello,
        Message,
        Nack,
        NackReason,
        Sensor,
        decode_frame,
        describe,
        encode_frame,
    )

_EXPORTS = {
    "ActionRule": "firmware_bridge.config",
    "ActionsConfig": "firmware_bridge.config",
    "BridgeConfig": "firmware_bridge.config",
    "LineModeConfig": "firmware_bridge.config",
    "BridgeConfigError": "firmware_bridge.errors",
    "BridgeError": "firmware_bridge.errors",
    "CommandError": "firmware_bridge.errors",
    "CommandRejectedError": "firmware_bridge.errors",
    "CommandTimeoutError": "firmware_bridge.errors",
    "FirmwareBuildError": "firmware_bridge.errors",
    "HandshakeError": "firmware_bridge.errors",
    "LinkDownError": "firmware_bridge.errors",
    "LinkError": "firmware_bridge.errors",
    "MissingDependencyError": "firmware_bridge.errors",
    "PortBusyError": "firmware_bridge.errors",
    "ProtocolError": "firmware_bridge.errors",
    "SimulatorError": "firmware_bridge.errors",
    "ActionController": "firmware_bridge.link.actions",
    "ActionStats": "firmware_bridge.link.actions",
    "BridgeLink": "firmware_bridge.link.bridge",
    "CommandResult": "firmware_bridge.link.bridge",
    "LinkState": "firmware_bridge.link.bridge",
    "ClockMapper": "firmware_bridge.link.clock",
    "LineParser": "firmware_bridge.link.linemode",
    "LineReader": "firmware_bridge.link.linemode",
    "PortInfo": "firmware_bridge.link.ports",
    "list_ports": "firmware_bridge.link.ports",
    "SensorReading": "firmware_bridge.link.reading",
    "LinkStats": "firmware_bridge.link.stats",
    "MAX_PAYLOAD_BYTES": "firmware_bridge.protocol.codec",
    "PROTOCOL_VERSION": "firmware_bridge.protocol.codec",
    "MessageType": "firmware_bridge.protocol.codec",
    "DecoderCounters": "firmware_bridge.protocol.decoder",
    "FrameDecoder": "firmware_bridge.protocol.decoder",
    "CommandFate": "firmware_bridge.link.bridge",
    "Ack": "firmware_bridge.protocol.messages",
    "ActuatorInfo": "firmware_bridge.protocol.messages",
    "ChannelInfo": "firmware_bridge.protocol.messages",
    "Command": "firmware_bridge.protocol.messages",
    "Frame": "firmware_bridge.protocol.messages",
    "Heartbeat": "firmware_bridge.protocol.messages",
    "Hello": "firmware_bridge.protocol.messages",
    "Message": "firmware_bridge.protocol.messages",
    "Nack": "firmware_bridge.protocol.messages",
    "NackReason": "firmware_bridge.protocol.messages",
    "Sensor": "firmware_bridge.protocol.messages",
    "decode_frame": "firmware_bridge.protocol.messages",
    "describe": "firmware_bridge.protocol.messages",
    "encode_frame": "firmware_bridge.protocol.messages",
}

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PROTOCOL_VERSION",
    "Ack",
    "ActionController",
    "ActionRule",
    "ActionStats",
    "ActionsConfig",
    "ActuatorInfo",
    "BridgeConfig",
    "BridgeConfigError",
    "BridgeError",
    "BridgeLink",
    "ChannelInfo",
    "ClockMapper",
    "Command",
    "CommandError",
    "CommandFate",
    "CommandRejectedError",
    "CommandResult",
    "CommandTimeoutError",
    "DecoderCounters",
    "FirmwareBuildError",
    "Frame",
    "FrameDecoder",
    "HandshakeError",
    "Heartbeat",
    "Hello",
    "LineModeConfig",
    "LineParser",
    "LineReader",
    "LinkDownError",
    "LinkError",
    "LinkState",
    "LinkStats",
    "Message",
    "MessageType",
    "MissingDependencyError",
    "Nack",
    "NackReason",
    "PortBusyError",
    "PortInfo",
    "ProtocolError",
    "Sensor",
    "SensorReading",
    "SimulatorError",
    "decode_frame",
    "describe",
    "encode_frame",
    "list_ports",
]


def __getattr__(name: str) -> _typing.Any:
    # firmware_bridge imports nothing from edge_sdk, so this is not edge_sdk._lazy.lazy_exports
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'firmware_bridge' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    setattr(_sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
