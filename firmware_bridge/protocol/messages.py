"""Message layer: the payload of each message type, packed little-endian (docs/serial-protocol.md).

``pack``/``unpack`` are exact inverses and reject any payload whose length does not match its
layout, which (with the CRC) is what keeps corrupt frames from being accepted. ``describe`` renders
a frame in the canonical one-line form that the shared vectors and the C tool also produce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol.codec import (
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    MessageType,
    RawFrame,
    decode_raw_frame,
    encode_raw_frame,
)

__all__ = [
    "ACK_STATUS_APPLIED",
    "ACK_STATUS_DUPLICATE",
    "CAP_FAILSAFE",
    "CAP_HEARTBEAT",
    "CAP_ONCE",
    "HEARTBEAT_FLAG_FAILSAFE",
    "HEARTBEAT_FLAG_STATUS_REQUEST",
    "ONCE_HORIZON",
    "Ack",
    "ActuatorInfo",
    "ChannelInfo",
    "Command",
    "Frame",
    "Heartbeat",
    "Hello",
    "Message",
    "Nack",
    "NackReason",
    "Sensor",
    "decode_frame",
    "describe",
    "encode_frame",
    "pack",
    "unpack",
]

CAP_HEARTBEAT = 0x01  # the device sends HEARTBEAT on its own
CAP_FAILSAFE = (
    0x02  # the device stops its actuators by itself when the host goes silent
)
# The device applies a command once per sequence number and reports duplicates and what it applied;
# in the host's HELLO: the host understands the long ACK and HEARTBEAT forms, so send them.
CAP_ONCE = 0x04
HEARTBEAT_FLAG_FAILSAFE = 0x01  # the device's own failsafe has stopped the actuators
HEARTBEAT_FLAG_STATUS_REQUEST = 0x02  # host → device: answer with a HEARTBEAT now
ACK_STATUS_APPLIED = 0  # applied now
ACK_STATUS_DUPLICATE = 1  # applied earlier under this seq (its ACK was lost), not applied again
ONCE_HORIZON = 64  # a retry is recognised while at most this many host frames behind the newest

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


class NackReason(IntEnum):
    """Why a device refused a command."""

    UNKNOWN_ACTUATOR = 1
    OUT_OF_RANGE = 2
    BAD_PAYLOAD = 3
    UNSUPPORTED = 4


@dataclass(frozen=True)
class ChannelInfo:
    """A sensor channel: its name (unit in the name, ``distance_cm``) and decimal exponent.

    The physical value is ``raw * 10**exponent``: raw 423 with exponent -1 is 42.3 cm.
    """

    name: str
    exponent: int = 0


@dataclass(frozen=True)
class ActuatorInfo:
    """An actuator the device drives, addressed by its index in ``Hello.actuators``."""

    name: str
    min_value: int
    max_value: int


@dataclass(frozen=True)
class Hello:
    """Sent by both sides on connect; the device's HELLO describes its channels and actuators."""

    name: str
    firmware_version: tuple[int, int, int] = (0, 0, 0)
    protocol_version: int = PROTOCOL_VERSION
    capabilities: int = 0
    channels: tuple[ChannelInfo, ...] = ()
    actuators: tuple[ActuatorInfo, ...] = ()


@dataclass(frozen=True)
class Sensor:
    """Raw channel values (in ``Hello.channels`` order) stamped with the MCU's millisecond clock."""

    mcu_time_ms: int
    values: tuple[int, ...]


@dataclass(frozen=True)
class Command:
    """Set actuator ``actuator_id`` to ``value`` (units are the actuator's: permille, on/off...)."""

    actuator_id: int
    value: int


@dataclass(frozen=True)
class Ack:
    """The command with sequence number ``acked_seq`` was applied.

    ``status`` is None for the 1-byte ACK of a device (or to a host) without :data:`CAP_ONCE`,
    else :data:`ACK_STATUS_APPLIED` or :data:`ACK_STATUS_DUPLICATE` (applied once, earlier); on
    the wire the long ACK is ``acked_seq, status, status ^ 0xFF``.
    """

    acked_seq: int
    status: int | None = None


@dataclass(frozen=True)
class Nack:
    """The command with sequence number ``acked_seq`` was refused for ``reason``."""

    acked_seq: int
    reason: int


@dataclass(frozen=True)
class Heartbeat:
    """Liveness in both directions; ``flags`` bit 0 means the device's failsafe is engaged.

    The long form (a :data:`CAP_ONCE` device talking to a host that has it too) adds ``host_seq``,
    the newest sequence number the device has seen from the host, and ``applied_map``: bit ``i``
    is set when the host frame with seq ``host_seq - i`` was a command the device applied.
    """

    uptime_ms: int
    flags: int = 0
    host_seq: int | None = None
    applied_map: int = 0

    def applied(self, seq: int) -> bool | None:
        """Whether the command with ``seq`` was applied; None when this heartbeat cannot say."""
        if self.host_seq is None:
            return None
        behind = (self.host_seq - seq) & 0xFF
        if behind >= ONCE_HORIZON:
            return None
        return bool(self.applied_map >> behind & 1)


Message = Union[Hello, Sensor, Command, Ack, Nack, Heartbeat]  # noqa: UP007 (a runtime alias on 3.10)

_TYPE_OF: dict[type, MessageType] = {
    Hello: MessageType.HELLO,
    Sensor: MessageType.SENSOR,
    Command: MessageType.COMMAND,
    Ack: MessageType.ACK,
    Nack: MessageType.NACK,
    Heartbeat: MessageType.HEARTBEAT,
}


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its sequence number and message."""

    seq: int
    message: Message

    @property
    def type(self) -> MessageType:
        return _TYPE_OF[type(self.message)]


def _pack_name(name: str, what: str) -> bytes:
    raw = name.encode("utf-8")
    if not raw or len(raw) > 32:
        raise ProtocolError(f"{what} must be 1..32 UTF-8 bytes. Got: {name!r}")
    return bytes((len(raw),)) + raw


def _check_i32(value: int, what: str) -> None:
    if not _I32_MIN <= value <= _I32_MAX:
        raise ProtocolError(f"{what} must fit in int32. Got: {value}")


def pack(message: Message) -> bytes:
    """Return the payload bytes of ``message``; raises :class:`ProtocolError` if it cannot be sent."""
    if isinstance(message, Sensor):
        if not 0 <= message.mcu_time_ms <= 0xFFFFFFFF:
            raise ProtocolError(
                f"mcu_time_ms must fit in uint32. Got: {message.mcu_time_ms}"
            )
        for v in message.values:
            _check_i32(v, "sensor value")
        if len(message.values) > 16:
            raise ProtocolError(
                f"a SENSOR frame carries at most 16 values. Got: {len(message.values)}"
            )
        n = len(message.values)
        return struct.pack(f"<IB{n}i", message.mcu_time_ms, n, *message.values)
    if isinstance(message, Command):
        if not 0 <= message.actuator_id <= 0xFF:
            raise ProtocolError(
                f"actuator_id must be 0..255. Got: {message.actuator_id}"
            )
        _check_i32(message.value, "command value")
        return struct.pack("<Bi", message.actuator_id, message.value)
    if isinstance(message, Ack):
        if message.status is None:
            return struct.pack("<B", message.acked_seq & 0xFF)
        # status, then its complement: 3 bytes, so that a frame that lost its last stuffed byte
        # and still passes the CRC cannot read as a valid 1-byte ACK (lengths 1 and 2 would).
        status = message.status & 0xFF
        return struct.pack("<BBB", message.acked_seq & 0xFF, status, status ^ 0xFF)
    if isinstance(message, Nack):
        return struct.pack("<BB", message.acked_seq & 0xFF, message.reason & 0xFF)
    if isinstance(message, Heartbeat):
        head = struct.pack("<IB", message.uptime_ms & 0xFFFFFFFF, message.flags & 0xFF)
        if message.host_seq is None:
            return head
        if not 0 <= message.applied_map < 2**64:
            raise ProtocolError(f"applied_map must fit in 64 bits. Got: {message.applied_map}")
        return head + struct.pack("<BQ", message.host_seq & 0xFF, message.applied_map)
    if isinstance(message, Hello):
        out = bytearray(
            (
                message.protocol_version & 0xFF,
                *(v & 0xFF for v in message.firmware_version),
            )
        )
        out.append(message.capabilities & 0xFF)
        out += _pack_name(message.name, "firmware name")
        out.append(len(message.channels))
        for ch in message.channels:
            out += struct.pack("<b", ch.exponent) + _pack_name(ch.name, "channel name")
        out.append(len(message.actuators))
        for act in message.actuators:
            _check_i32(act.min_value, "actuator min")
            _check_i32(act.max_value, "actuator max")
            out += struct.pack("<ii", act.min_value, act.max_value) + _pack_name(
                act.name, "actuator name"
            )
        if len(out) > MAX_PAYLOAD_BYTES:
            raise ProtocolError(
                f"HELLO payload must be at most {MAX_PAYLOAD_BYTES} bytes. Got: {len(out)}"
            )
        return bytes(out)
    raise ProtocolError(f"cannot pack {type(message).__name__}: not a protocol message")


class _Reader:
    """Cursor over a payload; every read checks the remaining length."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(
                f"{self.what} payload ended early: needed {n} bytes at offset {self.pos}, "
                f"payload is {len(self.data)} bytes"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        n = self.take(1)[0]
        if not 1 <= n <= 32:
            raise ProtocolError(f"{self.what} name length must be 1..32. Got: {n}")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.what} name is not UTF-8: {exc}") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError(
                f"{self.what} payload must be {self.pos} bytes. Got: {len(self.data)} bytes"
            )


def _fixed(data: bytes, fmt: str, what: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    if len(data) != size:
        raise ProtocolError(
            f"{what} payload must be {size} bytes. Got: {len(data)} bytes"
        )
    return struct.unpack(fmt, data)


def unpack(msg_type: MessageType, payload: bytes) -> Message:
    """Parse a payload of the given type; raises :class:`ProtocolError` if the layout does not fit."""
    if msg_type is MessageType.SENSOR:
        if len(payload) < 5:
            raise ProtocolError(
                f"SENSOR payload must be at least 5 bytes. Got: {len(payload)} bytes"
            )
        t_ms, n = struct.unpack_from("<IB", payload)
        if n > 16 or len(payload) != 5 + 4 * n:
            raise ProtocolError(
                f"SENSOR payload with {n} values must be {5 + 4 * n} bytes. Got: {len(payload)} bytes"
            )
        return Sensor(t_ms, tuple(struct.unpack_from(f"<{n}i", payload, 5)))
    if msg_type is MessageType.COMMAND:
        actuator, value = _fixed(payload, "<Bi", "COMMAND")
        return Command(actuator, value)
    if msg_type is MessageType.ACK:
        if len(payload) == 3:
            acked, status, check = payload
            if check != status ^ 0xFF:
                raise ProtocolError(f"ACK status byte {status} does not match its complement {check}")
            return Ack(acked, status)
        if len(payload) != 1:
            raise ProtocolError(f"ACK payload must be 1 or 3 bytes. Got: {len(payload)} bytes")
        return Ack(payload[0])
    if msg_type is MessageType.NACK:
        return Nack(*_fixed(payload, "<BB", "NACK"))
    if msg_type is MessageType.HEARTBEAT:
        if len(payload) not in (5, 14):
            raise ProtocolError(f"HEARTBEAT payload must be 5 or 14 bytes. Got: {len(payload)} bytes")
        return Heartbeat(*_fixed(payload, "<IBBQ" if len(payload) == 14 else "<IB", "HEARTBEAT"))
    if msg_type is MessageType.HELLO:
        r = _Reader(payload, "HELLO")
        proto, major, minor, patch, caps = r.take(5)
        name = r.name()
        channels = []
        for _ in range(r.take(1)[0]):
            (exponent,) = struct.unpack("<b", r.take(1))
            channels.append(ChannelInfo(r.name(), exponent))
        actuators = []
        for _ in range(r.take(1)[0]):
            lo, hi = struct.unpack("<ii", r.take(8))
            actuators.append(ActuatorInfo(r.name(), lo, hi))
        r.end()
        return Hello(
            name, (major, minor, patch), proto, caps, tuple(channels), tuple(actuators)
        )
    raise ProtocolError(f"unknown message type {int(msg_type)}", kind="type")


def encode_frame(seq: int, message: Message) -> bytes:
    """Wire bytes (COBS + delimiter) of ``message`` with sequence number ``seq``."""
    return encode_raw_frame(_TYPE_OF[type(message)], seq, pack(message))


def decode_frame(stuffed: bytes) -> Frame:
    """Decode one stuffed frame (without delimiter) down to its message."""
    raw: RawFrame = decode_raw_frame(stuffed)
    return Frame(raw.seq, unpack(raw.type, raw.payload))


def describe(frame: Frame) -> str:
    """Canonical one-line rendering, identical to the C tool's ``bp_describe``."""
    m = frame.message
    head = f"{frame.type.name} seq={frame.seq}"
    if isinstance(m, Hello):
        ver = ".".join(str(v) for v in m.firmware_version)
        chans = ",".join(f"{c.name}@{c.exponent}" for c in m.channels)
        acts = ",".join(f"{a.name}:{a.min_value}..{a.max_value}" for a in m.actuators)
        return f"{head} proto={m.protocol_version} fw={m.name}/{ver} caps=0x{m.capabilities:02x} channels=[{chans}] actuators=[{acts}]"
    if isinstance(m, Sensor):
        return (
            f"{head} t_ms={m.mcu_time_ms} values=[{','.join(str(v) for v in m.values)}]"
        )
    if isinstance(m, Command):
        return f"{head} actuator={m.actuator_id} value={m.value}"
    if isinstance(m, Ack):
        return f"{head} ack={m.acked_seq}" + ("" if m.status is None else f" status={m.status}")
    if isinstance(m, Nack):
        return f"{head} ack={m.acked_seq} reason={m.reason}"
    text = f"{head} uptime_ms={m.uptime_ms} flags=0x{m.flags:02x}"
    if m.host_seq is not None:
        text += f" host_seq={m.host_seq} applied=0x{m.applied_map:016x}"
    return text
