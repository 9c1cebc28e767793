"""Frame layer of the serial protocol: CRC-16/CCITT-FALSE, COBS, header (docs/serial-protocol.md).

A frame before stuffing is ``version:u8 | type:u8 | seq:u8 | payload | crc16:u16 big-endian``,
the CRC covering everything before it. The frame is COBS-encoded so it contains no 0x00, and one
0x00 delimits it on the wire. The C core (``firmware/core/bp_codec.c``) implements the same
functions; both are checked against ``vectors/protocol_v1.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.errors import ProtocolError

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_WIRE_BYTES",
    "PROTOCOL_VERSION",
    "MessageType",
    "RawFrame",
    "cobs_decode",
    "cobs_encode",
    "crc16_ccitt_false",
    "decode_raw_frame",
    "encode_raw_frame",
]

PROTOCOL_VERSION = 1
# Sized for an ATmega328P: the C core keeps one decoded frame buffer and one transmit buffer.
MAX_PAYLOAD_BYTES = 96
HEADER_BYTES = 3
CRC_BYTES = 2
MAX_FRAME_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES
# COBS adds one byte per 254 bytes (plus one); the delimiter adds one more.
MAX_WIRE_BYTES = MAX_FRAME_BYTES + MAX_FRAME_BYTES // 254 + 2


class MessageType(IntEnum):
    """Message type byte of the header."""

    HELLO = 1
    SENSOR = 2
    COMMAND = 3
    ACK = 4
    NACK = 5
    HEARTBEAT = 6


@dataclass(frozen=True)
class RawFrame:
    """A frame whose header and CRC were checked; the payload is not parsed yet."""

    type: MessageType
    seq: int
    payload: bytes


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor (check 0x29B1)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result holds no 0x00 byte."""
    out = bytearray()
    # Split on zeros; a block of 254 or more bytes is cut into 254-byte runs with code 0xFF.
    blocks = data.split(b"\x00")
    for i, block in enumerate(blocks):
        last = i == len(blocks) - 1
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
            if last and not block:
                return bytes(
                    out
                )  # as in the reference algorithm: no empty block after a final run
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`ProtocolError` (kind ``cobs``) on bad input."""
    out = bytearray()
    index = 0
    length = len(data)
    while index < length:
        code = data[index]
        if code == 0:
            raise ProtocolError(
                f"COBS data must not contain 0x00. Got one at offset {index}",
                kind="cobs",
            )
        end = index + code
        if end > length:
            raise ProtocolError(
                f"COBS block at offset {index} claims {code - 1} bytes but only {length - index - 1} remain",
                kind="cobs",
            )
        block = data[index + 1 : end]
        if 0 in block:
            raise ProtocolError(
                f"COBS data must not contain 0x00. Got one in block at offset {index}",
                kind="cobs",
            )
        out += block
        index = end
        if code != 0xFF and index < length:
            out.append(0)
    return bytes(out)


def encode_raw_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    """Return the wire bytes of one frame: COBS(header | payload | crc) followed by 0x00."""
    if not 0 <= seq <= 0xFF:
        raise ProtocolError(f"sequence number must be 0..255. Got: {seq}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            f"payload must be at most {MAX_PAYLOAD_BYTES} bytes. Got: {len(payload)} bytes",
            kind="oversize",
        )
    body = bytes((PROTOCOL_VERSION, int(msg_type), seq)) + payload
    crc = crc16_ccitt_false(body)
    return cobs_encode(body + bytes((crc >> 8, crc & 0xFF))) + b"\x00"


def decode_raw_frame(stuffed: bytes) -> RawFrame:
    """Check one COBS-stuffed frame (without its 0x00 delimiter) and split it.

    Raises :class:`ProtocolError` whose ``kind`` names the failed check.
    """
    if len(stuffed) > MAX_WIRE_BYTES - 1:
        raise ProtocolError(
            f"frame must be at most {MAX_WIRE_BYTES - 1} stuffed bytes. Got: {len(stuffed)}",
            kind="oversize",
        )
    frame = cobs_decode(stuffed)
    if len(frame) < HEADER_BYTES + CRC_BYTES:
        raise ProtocolError(
            f"frame must be at least {HEADER_BYTES + CRC_BYTES} bytes. Got: {len(frame)}",
            kind="short",
        )
    expected = crc16_ccitt_false(frame[:-2])
    received = (frame[-2] << 8) | frame[-1]
    if expected != received:
        raise ProtocolError(
            f"CRC mismatch: computed 0x{expected:04X}, frame carries 0x{received:04X}",
            kind="crc",
        )
    if frame[0] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version must be {PROTOCOL_VERSION}. Got: {frame[0]}",
            kind="version",
        )
    try:
        msg_type = MessageType(frame[1])
    except ValueError:
        raise ProtocolError(f"unknown message type {frame[1]}", kind="type") from None
    return RawFrame(type=msg_type, seq=frame[2], payload=bytes(frame[3:-2]))
