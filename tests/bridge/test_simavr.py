"""The Uno image that would be flashed, run in simavr, driven by the real BridgeLink over a pty.

The sketch's own Arduino core runs (millis() from Timer0, HardwareSerial on USART interrupts,
pulseIn() on the echo pin); the harness only emulates the HC-SR04 and reads the output pins.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware_bridge.config import BridgeConfig
from firmware_bridge.link.bridge import BridgeLink, LinkState
from firmware_bridge.link.reading import SensorReading
from firmware_bridge.tools.simavr import AVRSimulator, motor_duty, simavr_installed

from .ptyproxy import PtyProxy, byte_noise

pytestmark = [
    pytest.mark.skipif(
        not simavr_installed(),
        reason="simavr is not installed (Debian packages simavr, libsimavr-dev, libsimavrparts1)",
    ),
    pytest.mark.skipif(
        shutil.which("avr-gcc") is None
        or not Path("/usr/share/arduino/Arduino.mk").exists(),
        reason="no Uno image to run: gcc-avr, avr-libc, arduino-core-avr, arduino-mk are not installed",
    ),
]

# The sketch times the echo with pulseInLong() (micros(), 4 us steps = 0.07 cm). With pulseIn()
# it read 1-2 % short here, the interrupts taken during the pulse going uncounted.
DISTANCE_TOLERANCE_CM = 0.2


@pytest.fixture
def avr() -> Iterator[AVRSimulator]:
    with AVRSimulator(distance_cm=42.3) as simulator:
        yield simulator


def test_uno_image_answers_hello_with_its_channels_and_actuators(
    avr: AVRSimulator,
) -> None:
    with BridgeLink.open(avr.port) as link:
        assert link.state is LinkState.CONNECTED
        assert link.device is not None
        assert link.device.name == "edge-seek"
        assert link.device.firmware_version == (1, 0, 0)
        assert [c.name for c in link.device.channels] == ["distance_cm"]
        assert [a.name for a in link.device.actuators] == [
            "motor_left",
            "motor_right",
            "led",
        ]


def wait_for_distance(link: BridgeLink, matches: Callable[[float], bool], timeout_s: float = 5.0) -> SensorReading:
    """The first reading whose distance ``matches``: the simulated sonar changes a few frames late."""
    deadline = time.monotonic() + timeout_s
    while True:
        reading = link.wait_for_reading(max(0.05, deadline - time.monotonic()))
        if matches(reading.values["distance_cm"]):
            return reading
        assert time.monotonic() < deadline, f"distance never matched; last {reading.values}"


def test_uno_image_streams_the_emulated_sonar_distance(avr: AVRSimulator) -> None:
    with BridgeLink.open(avr.port) as link:
        first = link.wait_for_reading(2.0)
        second = link.wait_for_reading(2.0)
        assert first.values["distance_cm"] == pytest.approx(
            42.3, abs=DISTANCE_TOLERANCE_CM
        )
        assert first.mcu_time_ms is not None and second.mcu_time_ms is not None
        # The sketch's SENSOR_PERIOD_MS is 50, counted by the simulated Timer0.
        assert second.mcu_time_ms - first.mcu_time_ms in range(45, 60)
        avr.set_distance(150.0)
        moved = wait_for_distance(link, lambda d: d == pytest.approx(150.0, abs=DISTANCE_TOLERANCE_CM))
        assert moved.values["distance_cm"] == pytest.approx(
            150.0, abs=DISTANCE_TOLERANCE_CM
        )
        # Nothing in range: pulseIn() times out and the sketch sends -1.
        avr.set_distance(-1.0)
        assert wait_for_distance(link, lambda d: d == -0.1).values["distance_cm"] == -0.1


def test_commands_are_acknowledged_and_drive_the_pins(avr: AVRSimulator) -> None:
    started_s = time.monotonic()
    with BridgeLink.open(avr.port) as link:
        for actuator, value in (("motor_left", 500), ("motor_right", -300), ("led", 1)):
            result = link.send_command(actuator, value)
            assert result.attempts == 1 and result.latency_ms < 200
    avr.wait_for_output("motor_left", motor_duty(500), 1.0, since_s=started_s)
    avr.wait_for_output("motor_right", motor_duty(-300), 1.0, since_s=started_s)
    avr.wait_for_output("led", 1, 1.0, since_s=started_s)
    assert motor_duty(500) == 127 and motor_duty(-300) == -76


def test_uno_image_stops_the_motors_when_the_host_goes_silent(
    avr: AVRSimulator,
) -> None:
    with BridgeLink.open(avr.port) as link:
        link.send_command("motor_left", 800)
        avr.wait_for_output("motor_left", motor_duty(800), 1.0)
    silent_s = time.monotonic()
    stopped = avr.wait_for_output("motor_left", 0, 3.0, since_s=silent_s)
    assert 0.7 < stopped.time_s - silent_s < 2.5  # the sketch's failsafe_ms is 1000


def test_commands_survive_line_noise_from_the_uno(avr: AVRSimulator) -> None:
    # The sketch's HELLO is ~95 bytes on the wire: at 1 % byte noise 6 in 10 arrive corrupt, so
    # the handshake gets more attempts than the default 3.
    config = BridgeConfig(
        command_timeout_s=0.15,
        command_retries=5,
        link_timeout_s=2.0,
        handshake_timeout_s=0.3,
        handshake_attempts=20,
    )
    with (
        PtyProxy(avr.port, corrupt=byte_noise(0.01)) as proxy,
        BridgeLink.open(proxy.path, config) as link,
    ):
        for value in range(-500, 500, 50):
            link.send_command("motor_left", value)
        stats = link.stats()
    avr.wait_for_output("motor_left", motor_duty(450), 1.0)
    assert stats.resyncs > 0  # corrupt frames were seen, dropped and counted
    assert stats.acks >= 20


def test_garbage_sent_to_the_uno_does_not_stop_it(avr: AVRSimulator) -> None:
    with BridgeLink.open(avr.port) as link:
        link._write(os.urandom(2000))
        link._write(b"\x00")  # ends whatever half frame the garbage left in its decoder
        # The simulated UART runs at 115200 baud as the real one: 2000 bytes take ~0.17 s to
        # reach the firmware, and the command queues behind them: give its ACK the time.
        drain_s = 2 * 2001 * 10 / 115200
        assert link.send_command("led", 1, timeout_s=drain_s + 0.25).attempts <= 2
        assert link.stats().link_losses == 0
    avr.wait_for_output("led", 1, 1.0)
