"""A command takes effect once: the C core, the simulator on a pty and the host agree.

The device-session vectors are run by the C tool (``bp_vectors check``, in test_interop) and here
through the real simulator on a pty; the link tests lose ACKs or commands on purpose with a proxy
between the simulator and the link, and count what the firmware applied.
"""

from __future__ import annotations

import os
import time
import tty
from collections.abc import Iterator

import pytest

from firmware_bridge.config import BridgeConfig
from firmware_bridge.errors import CommandTimeoutError
from firmware_bridge.link.bridge import BridgeLink, CommandFate
from firmware_bridge.protocol.decoder import FrameDecoder
from firmware_bridge.protocol.messages import (
    Ack,
    Command,
    Frame,
    Heartbeat,
    Nack,
    decode_frame,
    describe,
)
from firmware_bridge.tools.simulator import HostSimulator
from firmware_bridge.tools.vectorgen import load_vectors

from .ptyproxy import FrameFilter, PtyProxy

DEVICE_VECTORS = [v for v in load_vectors() if v["kind"] == "device"]


def split_frames(wire: bytes) -> list[Frame]:
    return [decode_frame(part) for part in wire.split(b"\x00") if part]


@pytest.mark.parametrize("vector", DEVICE_VECTORS, ids=[v["name"] for v in DEVICE_VECTORS])
def test_device_vector_bytes_decode_to_their_canonical_frames(vector: dict[str, object]) -> None:
    device = split_frames(bytes.fromhex(str(vector["device_hex"])))
    assert [describe(f) for f in device] == vector["device_canonical"]
    assert any(isinstance(f.message, Command) for f in split_frames(bytes.fromhex(str(vector["host_hex"]))))


@pytest.fixture
def quiet_sim() -> Iterator[HostSimulator]:
    # No readings and no heartbeats of its own: the pty carries only the answers to the host.
    with HostSimulator(distance_cm=42.3, sensor_period_ms=10**7, heartbeat_ms=0, failsafe_ms=0) as simulator:
        yield simulator


def answers(frames: list[Frame]) -> list[object]:
    """ACK/NACK/HEARTBEAT of a device, without what depends on the run (its seq, its uptime)."""
    out: list[object] = []
    for f in frames:
        m = f.message
        if isinstance(m, (Ack, Nack)):
            out.append(m)
        elif isinstance(m, Heartbeat):
            out.append((m.flags, m.host_seq, m.applied_map))
    return out


@pytest.mark.parametrize("vector", DEVICE_VECTORS, ids=[v["name"] for v in DEVICE_VECTORS])
def test_device_vector_in_the_simulator_on_a_pty(quiet_sim: HostSimulator, vector: dict[str, object]) -> None:
    expected = split_frames(bytes.fromhex(str(vector["device_hex"])))
    fd = os.open(quiet_sim.port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        os.write(fd, bytes.fromhex(str(vector["host_hex"])))
        decoder = FrameDecoder()
        got: list[Frame] = []
        deadline = time.monotonic() + 10.0
        while len(answers(got)) < len(answers(expected)) and time.monotonic() < deadline:
            got += decoder.feed(os.read(fd, 4096))
    finally:
        os.close(fd)
    assert answers(got) == answers(expected)
    names = ["motor_left", "motor_right", "led"]
    want = [(names[int(a)], int(v)) for a, v in (p.split("=") for p in str(vector["applied"]).split(";") if p)]

    def applied() -> list[tuple[str, int]]:
        return [(e.name, e.value) for e in quiet_sim.actuator_events() if e.seq is not None]

    # the simulator reports APPLY on its own stdout, read by another thread: it may trail the answers
    deadline = time.monotonic() + 5.0
    while len(applied()) < len(want) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert applied() == want


def applications(sim: HostSimulator, seq: int, name: str, value: int) -> int:
    return sum(1 for e in sim.actuator_events() if (e.seq, e.name, e.value) == (seq, name, value))


def test_a_resent_command_whose_ack_was_lost_is_applied_once(sim: HostSimulator) -> None:
    first_ack = FrameFilter(lambda f: isinstance(f.message, Ack) and not first_ack.dropped)
    config = BridgeConfig(command_timeout_s=0.2, command_retries=3)
    with PtyProxy(sim.port, corrupt=first_ack) as proxy, BridgeLink.open(proxy.path, config) as link:
        result = link.send_command("motor_left", 300)
        stats = link.stats()
        # The ACK of the resend went out after the firmware's APPLY line: it is already printed.
        sim.wait_for_actuator("motor_left", 300, timeout_s=5.0)
    assert first_ack.dropped_types() == ["ACK"]
    assert result.attempts == 2
    assert result.duplicate is True  # "applied once, ACK lost and retried"
    assert stats.duplicate_acks == 1
    assert applications(sim, result.seq, "motor_left", 300) == 1
    assert sim.duplicates == 1


def test_a_fresh_command_is_acked_as_applied_not_duplicate(sim: HostSimulator) -> None:
    with BridgeLink.open(sim.port) as link:
        result = link.send_command("led", 1)
        assert link.stats().duplicate_acks == 0
    assert result.duplicate is False and result.attempts == 1


def test_a_timeout_says_it_may_have_applied_and_the_device_says_it_did(sim: HostSimulator) -> None:
    every_ack = FrameFilter(lambda f: isinstance(f.message, Ack))
    config = BridgeConfig(command_timeout_s=0.05, command_retries=2)
    with PtyProxy(sim.port, corrupt=every_ack) as proxy, BridgeLink.open(proxy.path, config) as link:
        with pytest.raises(CommandTimeoutError, match="may have applied it") as caught:
            link.send_command("motor_right", -250)
        fate = link.command_fate(caught.value, timeout_s=2.0)
    assert fate is CommandFate.APPLIED
    assert caught.value.seq >= 0 and caught.value.actuator == "motor_right"
    assert applications(sim, caught.value.seq, "motor_right", -250) == 1  # 3 attempts, one effect


def test_a_command_that_never_arrived_is_reported_not_applied(sim: HostSimulator) -> None:
    commands = FrameFilter(lambda f: isinstance(f.message, Command))
    config = BridgeConfig(command_timeout_s=0.05, command_retries=1)
    with (
        PtyProxy(sim.port, corrupt_to_device=commands) as proxy,
        BridgeLink.open(proxy.path, config) as link,
    ):
        with pytest.raises(CommandTimeoutError) as caught:
            link.send_command("motor_left", 123)
        fate = link.command_fate(caught.value, timeout_s=2.0)
    assert commands.dropped_types() == ["COMMAND", "COMMAND"]
    assert fate is CommandFate.NOT_APPLIED
    assert applications(sim, caught.value.seq, "motor_left", 123) == 0


def test_after_a_new_handshake_the_fate_is_unknown(sim: HostSimulator) -> None:
    every_ack = FrameFilter(lambda f: isinstance(f.message, Ack))
    config = BridgeConfig(command_timeout_s=0.05, command_retries=0)
    with (
        PtyProxy(sim.port, corrupt=every_ack) as proxy,
        BridgeLink.open(proxy.path, config) as link,
        pytest.raises(CommandTimeoutError) as caught,
    ):
        link.send_command("led", 1)
    # A new link is a new session: the device forgot what it applied before the new HELLO.
    with BridgeLink.open(sim.port) as fresh:
        assert fresh.command_fate(caught.value, timeout_s=0.5) is CommandFate.UNKNOWN
