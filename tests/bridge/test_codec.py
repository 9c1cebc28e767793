from __future__ import annotations

import random

import pytest

from firmware_bridge.errors import ProtocolError
from firmware_bridge.protocol.codec import (
    MAX_PAYLOAD_BYTES,
    MessageType,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    encode_raw_frame,
)
from firmware_bridge.protocol.messages import (
    Command,
    Hello,
    Sensor,
    decode_frame,
    describe,
    encode_frame,
    pack,
    unpack,
)
from firmware_bridge.tools.vectorgen import (
    build_vectors,
    load_vectors,
    render_vectors,
    vectors_path,
)


def test_crc_matches_the_catalogue_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize("length", [0, 1, 253, 254, 255, 508, 509, 600])
def test_cobs_round_trips_and_never_emits_zero(length: int) -> None:
    rng = random.Random(length)
    for data in (
        bytes(length),
        b"\x01" * length,
        bytes(rng.randrange(256) for _ in range(length)),
    ):
        encoded = cobs_encode(data)
        assert 0 not in encoded
        assert cobs_decode(encoded) == data


def test_cobs_decode_rejects_a_block_longer_than_the_data() -> None:
    with pytest.raises(ProtocolError, match="claims 4 bytes but only 1 remain") as info:
        cobs_decode(b"\x05\x01")
    assert info.value.kind == "cobs"


def test_shared_vectors_file_is_current() -> None:
    assert vectors_path().read_text("utf-8") == render_vectors(build_vectors())


def test_every_frame_vector_decodes_to_its_canonical_text_and_reencodes() -> None:
    frames = [v for v in load_vectors() if v["kind"] == "frame"]
    assert len(frames) >= 15
    for v in frames:
        wire = bytes.fromhex(v["wire_hex"])
        frame = decode_frame(wire[:-1])
        assert describe(frame) == v["canonical"], v["name"]
        assert encode_frame(frame.seq, frame.message) == wire, v["name"]
        assert pack(frame.message).hex() == v["payload_hex"], v["name"]


def test_every_reject_vector_is_rejected_for_its_stated_reason() -> None:
    for v in (v for v in load_vectors() if v["kind"] == "reject"):
        with pytest.raises(ProtocolError) as info:
            decode_frame(bytes.fromhex(v["wire_hex"])[:-1])
        assert info.value.kind == v["reject"], v["name"]


def test_crc_and_cobs_vectors_hold() -> None:
    for v in load_vectors():
        if v["kind"] == "crc":
            assert crc16_ccitt_false(bytes.fromhex(v["data_hex"])) == v["crc"]
        elif v["kind"] == "cobs":
            assert cobs_encode(bytes.fromhex(v["raw_hex"])).hex() == v["cobs_hex"]
            assert cobs_decode(bytes.fromhex(v["cobs_hex"])).hex() == v["raw_hex"]


def test_error_messages_say_what_was_expected_and_what_came() -> None:
    with pytest.raises(
        ProtocolError, match=r"COMMAND payload must be 5 bytes\. Got: 4 bytes"
    ):
        unpack(MessageType.COMMAND, b"\x00\x01\x02\x03")
    with pytest.raises(
        ProtocolError, match=r"sequence number must be 0\.\.255\. Got: 256"
    ):
        encode_raw_frame(MessageType.ACK, 256, b"\x00")
    with pytest.raises(
        ProtocolError,
        match=rf"payload must be at most {MAX_PAYLOAD_BYTES} bytes\. Got: 97 bytes",
    ):
        encode_raw_frame(MessageType.SENSOR, 0, bytes(97))
    with pytest.raises(
        ProtocolError, match=r"command value must fit in int32\. Got: 2147483648"
    ):
        pack(Command(0, 2**31))
    with pytest.raises(
        ProtocolError, match=r"firmware name must be 1\.\.32 UTF-8 bytes\. Got: ''"
    ):
        pack(Hello(name=""))
    with pytest.raises(
        ProtocolError,
        match=r"CRC mismatch: computed 0x[0-9A-F]{4}, frame carries 0x[0-9A-F]{4}",
    ):
        wire = bytearray(encode_frame(1, Sensor(5, (1,))))
        wire[3] ^= 0x40
        decode_frame(bytes(wire[:-1]))
