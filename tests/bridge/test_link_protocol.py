"""LinkProtocol fed bytes directly: no port, no pty, no thread, a fake clock."""

from __future__ import annotations

import pytest

from firmware_bridge.config import BridgeConfig
from firmware_bridge.errors import LinkDownError, LinkError
from firmware_bridge.link.protocol import HOST_HELLO, LinkProtocol, scale_value
from firmware_bridge.link.reading import SensorReading
from firmware_bridge.protocol.decoder import FrameDecoder
from firmware_bridge.protocol.messages import (
    HEARTBEAT_FLAG_FAILSAFE,
    Ack,
    ActuatorInfo,
    ChannelInfo,
    Frame,
    Heartbeat,
    Hello,
    Message,
    Nack,
    NackReason,
    Sensor,
    encode_frame,
)

DEVICE = Hello(
    name="test-dev",
    firmware_version=(1, 2, 3),
    channels=(ChannelInfo("distance_cm", -1), ChannelInfo("temp_c", 0)),
    actuators=(ActuatorInfo("led", 0, 1),),
)
CONFIG = BridgeConfig(handshake_timeout_s=1.0, handshake_attempts=3, heartbeat_interval_s=0.25, link_timeout_s=1.0)
WALL_MINUS_MONO_S = 1_700_000_000.0  # the fake wall clock runs this far ahead of the monotonic one


class Harness:
    """A LinkProtocol with everything it talks back to recorded, and a clock the test moves."""

    def __init__(self, config: BridgeConfig = CONFIG) -> None:
        self.now_s = 100.0
        self.sent = FrameDecoder()
        self.sent_frames: list[Frame] = []
        self.send_error: LinkError | None = None
        self.connected: list[Hello] = []
        self.readings: list[SensorReading] = []
        self.losses = 0
        self.protocol = LinkProtocol(
            "loop://test",
            config,
            send=self._send,
            on_connected=self.connected.append,
            on_reading=self.readings.append,
            on_lost=self._lost,
            monotonic_s=lambda: self.now_s,
            wall_s=lambda: self.now_s + WALL_MINUS_MONO_S,
        )

    def _send(self, data: bytes) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent_frames += self.sent.feed(data)

    def _lost(self) -> None:
        self.losses += 1

    def feed(self, seq: int, message: Message) -> None:
        self.protocol.data_received(encode_frame(seq, message))

    def handshake(self) -> None:
        self.protocol.connection_made()
        self.feed(0, DEVICE)

    def sent_messages(self, kind: type) -> list[Frame]:
        return [f for f in self.sent_frames if isinstance(f.message, kind)]


def test_connection_made_sends_the_host_hello_and_the_device_hello_completes_the_handshake() -> None:
    h = Harness()
    h.protocol.connection_made()
    assert [f.message for f in h.sent_frames] == [HOST_HELLO]
    assert not h.protocol.connected and h.protocol.device is None and h.connected == []
    h.feed(0, DEVICE)
    assert h.protocol.connected and h.protocol.device == DEVICE
    assert h.connected == [DEVICE]
    h.feed(1, DEVICE)  # the device restarted without going silent: not a second handshake
    assert h.connected == [DEVICE] and h.protocol.counts()["reconnects"] == 0


def test_a_hello_of_another_protocol_version_is_ignored() -> None:
    h = Harness()
    h.protocol.connection_made()
    h.feed(0, Hello(name="future-dev", protocol_version=2))
    assert not h.protocol.connected and h.protocol.device is None and h.connected == []


def test_sensor_frames_become_readings_in_physical_units_with_host_timestamps() -> None:
    h = Harness()
    h.handshake()
    h.feed(7, Sensor(5000, (423, 21, 9)))
    assert len(h.readings) == 1
    reading = h.readings[0]
    assert reading.values == {"distance_cm": 42.3, "temp_c": 21.0, "ch2": 9.0}  # a channel HELLO did not name
    assert reading.seq == 7 and reading.mcu_time_ms == 5000 and reading.source == "loop://test"
    assert reading.received_s == pytest.approx(h.now_s + WALL_MINUS_MONO_S)
    assert reading.timestamp_s <= reading.received_s
    # 20 ms of MCU time later, arriving 20 ms later: the mapped time advances by the same 20 ms.
    h.now_s += 0.02
    h.feed(8, Sensor(5020, (400, 21)))
    assert h.readings[1].timestamp_s - reading.timestamp_s == pytest.approx(0.02)
    assert h.protocol.counts()["sensor_frames"] == 2


def test_a_frame_split_at_every_byte_is_delivered_once() -> None:
    h = Harness()
    h.handshake()
    for byte in encode_frame(3, Sensor(10, (-15,))):
        h.protocol.data_received(bytes((byte,)))
    assert [r.values for r in h.readings] == [{"distance_cm": -1.5}]
    assert h.protocol.decoder_counters().frames_ok == 2  # the HELLO and this SENSOR


def test_a_corrupted_frame_is_rejected_counted_and_the_next_one_still_arrives() -> None:
    h = Harness()
    h.handshake()
    wire = bytearray(encode_frame(4, Sensor(100, (423,))))
    wire[5] ^= 0x40  # one flipped bit inside the frame: the CRC no longer matches
    assert wire[5] != 0, "the flip must not create a delimiter, or the frame would split in two"
    h.protocol.data_received(bytes(wire) + encode_frame(5, Sensor(120, (424,))))
    assert [r.seq for r in h.readings] == [5]
    assert h.readings[0].values == {"distance_cm": 42.4}
    counters = h.protocol.decoder_counters()
    assert counters.resyncs == 1 and counters.crc_errors + counters.cobs_errors + counters.malformed == 1
    assert h.protocol.counts()["sensor_frames"] == 1


def test_an_ack_wakes_the_command_waiting_on_its_sequence_number_only() -> None:
    h = Harness()
    h.handshake()  # the host HELLO used seq 0
    seq_a, pending_a = h.protocol.expect_reply()
    seq_b, pending_b = h.protocol.expect_reply()
    assert (seq_a, seq_b) == (1, 2)
    h.feed(9, Ack(seq_b))
    assert pending_b.event.is_set() and pending_b.reply == Ack(seq_b)
    assert not pending_a.event.is_set() and pending_a.reply is None
    h.feed(10, Nack(seq_a, NackReason.OUT_OF_RANGE))
    assert pending_a.event.is_set() and pending_a.reply == Nack(seq_a, NackReason.OUT_OF_RANGE)
    assert h.protocol.counts()["acks"] == 1 and h.protocol.counts()["nacks"] == 1


def test_a_late_ack_for_a_forgotten_command_is_counted_and_dropped() -> None:
    h = Harness()
    h.handshake()
    seq, pending = h.protocol.expect_reply()
    h.protocol.forget_reply(seq)
    h.feed(11, Ack(seq))
    assert not pending.event.is_set() and pending.reply is None
    assert h.protocol.counts()["acks"] == 1


def test_sequence_numbers_are_shared_by_every_frame_and_wrap_at_256() -> None:
    h = Harness()
    h.protocol.connection_made()  # HELLO takes 0
    seqs = [h.protocol.expect_reply()[0] for _ in range(255)]
    assert seqs == list(range(1, 256))
    assert h.protocol.next_seq() == 0


def test_cancel_pending_wakes_every_waiter_without_a_reply() -> None:
    h = Harness()
    h.handshake()
    waiting = [h.protocol.expect_reply()[1] for _ in range(3)]
    h.protocol.cancel_pending()
    assert all(p.event.is_set() and p.reply is None for p in waiting)


def test_hello_is_resent_until_the_attempts_are_used_up() -> None:
    h = Harness()
    h.protocol.connection_made()
    for _ in range(5):
        h.now_s += CONFIG.handshake_timeout_s + 0.01
        h.protocol.tick()
    assert len(h.sent_messages(Hello)) == CONFIG.handshake_attempts


def test_when_connected_heartbeats_go_out_and_silence_drops_the_link() -> None:
    h = Harness()
    h.handshake()
    h.protocol.tick()
    h.now_s += 0.1
    h.protocol.tick()  # within the heartbeat interval: nothing new
    h.now_s += CONFIG.heartbeat_interval_s
    h.protocol.tick()
    assert len(h.sent_messages(Heartbeat)) == 2
    h.now_s += 0.5
    h.protocol.data_received(b"\x13")  # any byte, even noise, shows the device is there
    h.now_s += CONFIG.link_timeout_s - 0.1
    h.protocol.tick()
    h.now_s += 0.2
    with pytest.raises(LinkDownError, match=r"device silent for 1\.10 s"):
        h.protocol.tick()


def test_a_failed_write_is_raised_for_the_reader_to_drop_the_port() -> None:
    h = Harness()
    h.send_error = LinkError("write to loop://test failed: EIO")
    with pytest.raises(LinkError, match="HELLO not sent: write to loop://test failed"):
        h.protocol.connection_made()
    h.send_error = None
    h.handshake()
    h.send_error = LinkError("EIO")
    with pytest.raises(LinkError, match="heartbeat not sent: EIO"):
        h.protocol.tick()


def test_heartbeats_report_the_devices_failsafe() -> None:
    h = Harness()
    h.handshake()
    h.feed(20, Heartbeat(1000, HEARTBEAT_FLAG_FAILSAFE))
    assert h.protocol.device_failsafe
    h.feed(21, Heartbeat(1250, 0))
    assert not h.protocol.device_failsafe
    assert h.protocol.counts()["heartbeats_rx"] == 2


def test_connection_lost_is_counted_reported_and_the_next_hello_is_a_reconnect() -> None:
    h = Harness()
    h.handshake()
    h.protocol.connection_lost(LinkError("read failed: device reports readiness to read but returned no data"))
    assert h.losses == 1 and not h.protocol.connected
    assert h.protocol.counts()["link_losses"] == 1
    h.protocol.tick()  # nothing to do without a connection's handshake: no HEARTBEAT, no raise
    h.handshake()
    assert h.connected == [DEVICE, DEVICE] and h.protocol.counts()["reconnects"] == 1
    # After a replug HELLO is resent for as long as it takes, past handshake_attempts.
    h.protocol.connection_lost(LinkError("gone"))
    h.protocol.connection_made()
    for _ in range(2 * CONFIG.handshake_attempts):
        h.now_s += CONFIG.handshake_timeout_s + 0.01
        h.protocol.tick()
    assert len(h.sent_messages(Hello)) == 2 + 1 + 2 * CONFIG.handshake_attempts


def test_a_half_frame_from_the_previous_port_does_not_spoil_the_first_frame_of_the_next() -> None:
    h = Harness()
    h.handshake()
    h.protocol.data_received(encode_frame(30, Sensor(1, (1,)))[:6])  # unplugged mid-frame
    h.protocol.connection_lost(LinkError("read failed: EIO"))
    h.protocol.connection_made()
    h.feed(0, DEVICE)
    assert h.protocol.connected and h.protocol.decoder_counters().resyncs == 0


def test_a_close_on_purpose_is_not_a_loss() -> None:
    h = Harness()
    h.handshake()
    h.protocol.connection_lost(None)
    assert h.losses == 0 and h.protocol.counts()["link_losses"] == 0
    assert not h.protocol.connected


def test_scale_value_divides_for_negative_exponents() -> None:
    assert scale_value(423, -1) == 42.3
    assert scale_value(7, 2) == 700.0
