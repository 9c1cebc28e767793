"""The shared test vectors (``vectors/protocol_v1.json``): generate, write and load them.

Both the Python tests and the C tool (``firmware/host/bp_vectors.c``) read the same file. Each
vector sits on its own line so the C tool can read it without a JSON library. Run
``python -m firmware_bridge.tools.vectorgen`` to rewrite the file; a test checks that it is current.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from firmware_bridge.protocol.codec import (
    MessageType,
    cobs_encode,
    crc16_ccitt_false,
    encode_raw_frame,
)
from firmware_bridge.protocol.messages import (
    ACK_STATUS_APPLIED,
    ACK_STATUS_DUPLICATE,
    CAP_ONCE,
    HEARTBEAT_FLAG_STATUS_REQUEST,
    Ack,
    ActuatorInfo,
    ChannelInfo,
    Command,
    Heartbeat,
    Hello,
    Message,
    Nack,
    Sensor,
    decode_frame,
    describe,
    encode_frame,
    pack,
)

__all__ = ["VECTORS_FILE", "build_vectors", "load_vectors", "main", "render_vectors"]

VECTORS_FILE = "protocol_v1.json"

SEEK_HELLO = Hello(
    name="edge-seek",
    firmware_version=(1, 0, 0),
    capabilities=0x07,  # heartbeat, failsafe, once
    channels=(ChannelInfo("distance_cm", -1),),
    actuators=(
        ActuatorInfo("motor_left", -1000, 1000),
        ActuatorInfo("motor_right", -1000, 1000),
        ActuatorInfo("led", 0, 1),
    ),
)


def _frame(name: str, seq: int, message: Message) -> dict[str, Any]:
    wire = encode_frame(seq, message)
    return {
        "name": name,
        "kind": "frame",
        "payload_hex": pack(message).hex(),
        "wire_hex": wire.hex(),
        "canonical": describe(decode_frame(wire[:-1])),
    }


def _device(name: str, what: str, host: list[tuple[int, Message]], device: list[tuple[int, Message]],
            applied: list[tuple[int, int]]) -> dict[str, Any]:
    """A session: the host's frames, and exactly what the seek robot's core must answer and apply."""
    host_wire = b"\x00" + b"".join(encode_frame(seq, m) for seq, m in host)
    return {
        "name": name,
        "kind": "device",
        "what": what,
        "host_hex": host_wire.hex(),
        "device_hex": b"".join(encode_frame(seq, m) for seq, m in device).hex(),
        "device_canonical": [describe(decode_frame(encode_frame(seq, m)[:-1])) for seq, m in device],
        "applied": ";".join(f"{a}={v}" for a, v in applied),
    }


def _device_vectors() -> list[dict[str, Any]]:
    host_hello = Hello(name="edge-sdk-host", firmware_version=(0, 1, 0), capabilities=CAP_ONCE)
    v1_host_hello = Hello(name="edge-sdk-host", firmware_version=(0, 1, 0))
    left = Command(0, 500)
    applied, duplicate = ACK_STATUS_APPLIED, ACK_STATUS_DUPLICATE
    return [
        _device(
            "device_retry_not_applied_twice",
            "a resent command (ACK lost) is ACKed as a duplicate and not applied again, even after "
            "a later command; a status request is answered at once; a NACK is not remembered",
            [(0, host_hello), (1, left), (1, left), (2, Heartbeat(0, HEARTBEAT_FLAG_STATUS_REQUEST)),
             (3, Command(2, 1)), (1, left), (4, Command(0, 5000)), (4, Command(0, 5000))],
            [(0, SEEK_HELLO), (1, Ack(1, applied)), (2, Ack(1, duplicate)),
             (3, Heartbeat(0, 0, host_seq=2, applied_map=0b10)), (4, Ack(3, applied)), (5, Ack(1, duplicate)),
             (6, Nack(4, 2)), (7, Nack(4, 2))],
            [(0, 500), (2, 1)],
        ),
        _device(
            "device_v1_host_short_ack",
            "a host without the once capability gets 1-byte ACKs; the retry is still applied once",
            [(0, v1_host_hello), (1, left), (1, left)],
            [(0, SEEK_HELLO), (1, Ack(1)), (2, Ack(1))],
            [(0, 500)],
        ),
        _device(
            "device_seq_wrap_new_command",
            "once the host's seq counter has gone round, the same seq is a new command and is applied",
            [(0, host_hello), (1, left), (150, Heartbeat(0)), (40, Heartbeat(0)), (1, left)],
            [(0, SEEK_HELLO), (1, Ack(1, applied)), (2, Ack(1, applied))],
            [(0, 500), (0, 500)],
        ),
    ]


def _reject(name: str, wire: bytes, reason: str) -> dict[str, Any]:
    return {"name": name, "kind": "reject", "wire_hex": wire.hex(), "reject": reason}


def _unstuffed(body: bytes) -> bytes:
    """Frame bytes with a correct CRC over arbitrary (possibly invalid) header and payload."""
    crc = crc16_ccitt_false(body)
    return cobs_encode(body + bytes((crc >> 8, crc & 0xFF))) + b"\x00"


def build_vectors() -> list[dict[str, Any]]:
    """Every vector, deterministic."""
    vectors: list[dict[str, Any]] = []
    for name, data in [
        ("crc_check_string", b"123456789"),
        ("crc_empty", b""),
        ("crc_zeros", bytes(8)),
        ("crc_ff", b"\xff" * 4),
    ]:
        vectors.append(
            {
                "name": name,
                "kind": "crc",
                "data_hex": data.hex(),
                "crc": crc16_ccitt_false(data),
            }
        )
    for name, raw in [
        ("cobs_single_zero", b"\x00"),
        ("cobs_two_zeros", b"\x00\x00"),
        ("cobs_mixed", b"\x11\x22\x00\x33"),
        ("cobs_no_zero", b"\x11\x22\x33\x44"),
        ("cobs_trailing_zeros", b"\x11\x00\x00\x00"),
        ("cobs_254_nonzero", bytes(range(1, 255))),
        ("cobs_255_from_zero", bytes(range(255))),
        ("cobs_255_nonzero", bytes(range(1, 256))),
    ]:
        vectors.append(
            {
                "name": name,
                "kind": "cobs",
                "raw_hex": raw.hex(),
                "cobs_hex": cobs_encode(raw).hex(),
            }
        )
    vectors += [
        _frame("hello_device_seek", 0, SEEK_HELLO),
        _frame(
            "hello_host", 1, Hello(name="edge-sdk-host", firmware_version=(0, 1, 0), capabilities=CAP_ONCE)
        ),
        _frame("sensor_one_channel", 5, Sensor(123456, (423,))),
        _frame("sensor_two_channels_negative", 6, Sensor(1000, (423, -5))),
        _frame("sensor_clock_wrap", 255, Sensor(0xFFFFFFFF, (0,))),
        _frame("sensor_sixteen_channels", 7, Sensor(42, tuple(range(-8, 8)))),
        _frame("sensor_no_channels", 8, Sensor(0, ())),
        _frame("command_left_forward", 9, Command(0, 1000)),
        _frame("command_right_reverse", 10, Command(1, -1000)),
        _frame("command_led_on", 0, Command(2, 1)),
        _frame("command_int32_extremes", 11, Command(255, -(2**31))),
        _frame("command_int32_max", 12, Command(0, 2**31 - 1)),
        _frame("ack", 13, Ack(9)),
        _frame("ack_applied", 13, Ack(9, ACK_STATUS_APPLIED)),
        _frame("ack_duplicate", 14, Ack(9, ACK_STATUS_DUPLICATE)),
        _frame("nack_out_of_range", 14, Nack(10, 2)),
        _frame("heartbeat_host", 15, Heartbeat(0, 0)),
        _frame("heartbeat_failsafe", 16, Heartbeat(987654, 1)),
        _frame("heartbeat_status_request", 17, Heartbeat(1000, HEARTBEAT_FLAG_STATUS_REQUEST)),
        _frame("heartbeat_applied_map", 18, Heartbeat(1250, 0, host_seq=7, applied_map=(1 << 63) | 0b101)),
    ]
    vectors += _device_vectors()
    good = encode_frame(9, Command(0, 1000))
    flipped = bytearray(good)
    flipped[5] ^= 0x01  # a data byte of the stuffed frame, not a COBS code
    vectors += [
        _reject("reject_crc_bit_flip", bytes(flipped), "crc"),
        _reject("reject_truncated", good[:3] + b"\x00", "cobs"),
        _reject(
            "reject_too_short", cobs_encode(b"\x01\x04\x01\x02") + b"\x00", "short"
        ),
        _reject(
            "reject_bad_version",
            _unstuffed(bytes((2, MessageType.ACK, 1, 9))),
            "version",
        ),
        _reject("reject_unknown_type", _unstuffed(bytes((1, 0x7F, 1, 9))), "type"),
        _reject(
            "reject_ack_wrong_length",
            _unstuffed(bytes((1, MessageType.ACK, 1, 9, 0))),
            "payload",
        ),
        _reject(
            "reject_ack_status_check",
            _unstuffed(bytes((1, MessageType.ACK, 1, 9, 1, 0xFF))),
            "payload",
        ),
        _reject(
            "reject_heartbeat_wrong_length",
            _unstuffed(bytes((1, MessageType.HEARTBEAT, 1, 0, 0, 0, 0, 0, 0))),
            "payload",
        ),
        _reject(
            "reject_sensor_count_mismatch",
            _unstuffed(bytes((1, MessageType.SENSOR, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0))),
            "payload",
        ),
        _reject(
            "reject_oversize",
            encode_raw_frame(MessageType.SENSOR, 1, bytes(1))[:-1]
            + b"\x01" * 120
            + b"\x00",
            "oversize",
        ),
    ]
    return vectors


def render_vectors(vectors: list[dict[str, Any]]) -> str:
    """The file text: valid JSON, one vector per line."""
    lines = ",\n".join("    " + json.dumps(v, sort_keys=True) for v in vectors)
    return '{\n  "protocol_version": 1,\n  "vectors": [\n' + lines + "\n  ]\n}\n"


def load_vectors() -> list[dict[str, Any]]:
    """The vectors shipped with the package."""
    text = (
        resources.files("firmware_bridge")
        .joinpath("vectors", VECTORS_FILE)
        .read_text("utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return list(data["vectors"])


def vectors_path() -> Path:
    """Filesystem path of the shipped vectors file (for the C tool)."""
    return Path(__file__).resolve().parent.parent / "vectors" / VECTORS_FILE


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else vectors_path()
    target.write_text(render_vectors(build_vectors()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
