"""firmware_bridge: a reliable serial link to microcontrollers, with a reference C firmware.

Importing does no I/O and does not import pyserial (it is loaded when a port is opened). The
protocol is specified in docs/serial-protocol.md; the C core lives in ``firmware/``.
Simulators and firmware builders are development tools: import them from :mod:`firmware_bridge.tools`.

Typical use::

    from firmware_bridge import BridgeLink, ActionController, ActionsConfig, ActionRule

    with BridgeLink.open("/dev/serial/by-id/usb-Arduino...") as link:
        link.send_command("motor_left", 500)          # waits for the ACK, retries
        reading = link.latest_reading(max_age_s=0.2)  # SensorReading, MCU clock mapped to host time
"""

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
from firmware_bridge.link.bridge import BridgeLink, CommandResult, LinkState
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
