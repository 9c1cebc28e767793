from __future__ import annotations

import random

from firmware_bridge.protocol.decoder import FrameDecoder
from firmware_bridge.protocol.messages import (
    Ack,
    Command,
    Frame,
    Heartbeat,
    Sensor,
    encode_frame,
)

FRAMES = [
    Frame(1, Sensor(100, (423,))),
    Frame(2, Command(0, -1000)),
    Frame(3, Ack(2)),
    Frame(4, Heartbeat(1234, 0)),
]


def wire(frames: list[Frame]) -> bytes:
    return b"".join(encode_frame(f.seq, f.message) for f in frames)


def test_frames_split_at_every_byte_boundary_are_all_decoded() -> None:
    decoder = FrameDecoder()
    out: list[Frame] = []
    for byte in wire(FRAMES):
        out += decoder.feed(bytes((byte,)))
    assert out == FRAMES
    assert decoder.counters().frames_ok == 4


def test_garbage_between_frames_is_dropped_counted_and_the_decoder_resyncs() -> None:
    decoder = FrameDecoder()
    stream = (
        b"\x13\x37noise\x00"
        + wire(FRAMES[:2])
        + b"\xff" * 40
        + b"\x00"
        + wire(FRAMES[2:])
    )
    assert decoder.feed(stream) == FRAMES
    counters = decoder.counters()
    assert counters.resyncs == 2
    assert counters.frames_ok == 4


def test_a_flipped_bit_drops_only_its_own_frame() -> None:
    data = bytearray(wire(FRAMES))
    data[3] ^= 0x04  # inside the first frame
    decoder = FrameDecoder()
    assert decoder.feed(bytes(data)) == FRAMES[1:]
    assert decoder.counters().resyncs == 1


def test_a_stream_without_delimiters_is_bounded_and_counted_as_oversize() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x01" * 10_000) == []
    assert decoder.feed(b"\x00" + wire(FRAMES[:1])) == FRAMES[:1]
    counters = decoder.counters()
    assert counters.oversize == 1
    assert len(decoder._buffer) == 0


def test_random_bytes_never_raise_and_never_yield_a_frame() -> None:
    rng = random.Random(7)
    decoder = FrameDecoder()
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        assert decoder.feed(data) == []
