"""firmware_bridge: a reliable serial link to microcontrollers, with a reference C firmware.

Importing does no I/O and does not import pyserial (it is loaded when a port is opened). The
protocol is specified in docs/serial-protocol.md; the C core lives in ``firmware/``.

Typical use::

    from firmware_bridge import BridgeLink, ActionController, ActionsConfig, ActionRule

    with BridgeLink.open("/dev/serial/by-id/usb-Arduino...") as link:
        link.send_command("motor_left", 500)          # waits for the ACK, retries
        reading = link.latest_reading(max_age_s=0.2)  # SensorReading, MCU clock mapped to host time
"""

from firmware_bridge.actions import ActionController, ActionStats
from firmware_bridge.clock import ClockMapper
from firmware_bridge.codec import MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, MessageType
from firmware_bridge.config import (
    ActionRule,
    ActionsConfig,
    BridgeConfig,
    LineModeConfig,
)
from firmware_bridge.decoder import DecoderCounters, FrameDecoder
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
from firmware_bridge.firmware import (
    FirmwareSize,
    HostTools,
    build_avr_core,
    build_host_tools,
    build_simavr_harness,
    build_uno_sketch,
)
from firmware_bridge.linemode import LineParser, LineReader
from firmware_bridge.link import BridgeLink, CommandResult, LinkState
from firmware_bridge.messages import (
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
from firmware_bridge.ports import PortInfo, list_ports
from firmware_bridge.reading import SensorReading
from firmware_bridge.simavr import AVRSimulator, OutputEvent
from firmware_bridge.simulator import ActuatorEvent, HostSimulator
from firmware_bridge.stats import LinkStats

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PROTOCOL_VERSION",
    "AVRSimulator",
    "Ack",
    "ActionController",
    "ActionRule",
    "ActionStats",
    "ActionsConfig",
    "ActuatorEvent",
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
    "FirmwareSize",
    "Frame",
    "FrameDecoder",
    "HandshakeError",
    "Heartbeat",
    "Hello",
    "HostSimulator",
    "HostTools",
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
    "OutputEvent",
    "PortBusyError",
    "PortInfo",
    "ProtocolError",
    "Sensor",
    "SensorReading",
    "SimulatorError",
    "build_avr_core",
    "build_host_tools",
    "build_simavr_harness",
    "build_uno_sketch",
    "decode_frame",
    "describe",
    "encode_frame",
    "list_ports",
]
