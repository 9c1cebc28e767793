from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import firmware_bridge
from firmware_bridge.cli import main
from firmware_bridge.simulator import HostSimulator


def test_public_api_lists_every_public_name_and_nothing_missing() -> None:
    exported = set(firmware_bridge.__all__)
    assert len(exported) == len(firmware_bridge.__all__)
    for name in exported:
        assert hasattr(firmware_bridge, name), name
    public = {n for n in vars(firmware_bridge) if not n.startswith("_")}
    modules = {
        n for n in public if type(getattr(firmware_bridge, n)).__name__ == "module"
    }
    assert public - modules == exported


def test_import_does_not_load_pyserial() -> None:
    code = "import sys, firmware_bridge; print('serial' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_send_prints_the_ack(
    sim: HostSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", sim.port, "motor_left", "250"]) == 0
    assert capsys.readouterr().out.startswith("ACK motor_left=250 seq=")
    assert sim.actuator_state()["motor_left"] == 250


def test_send_with_a_bad_value_exits_2_with_the_reason(
    sim: HostSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", sim.port, "led", "7"]) == 2
    assert "led value must be within [0, 1]. Got: 7" in capsys.readouterr().err


def test_send_to_a_missing_port_exits_2(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", os.path.join(tmp_path, "nope"), "led", "1"]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_monitor_prints_decoded_frames(
    sim: HostSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", sim.port, "--duration-s", "1.0"]) == 0
    out = capsys.readouterr()
    assert "HELLO seq=" in out.out and "fw=edge-seek-sim/1.0.0" in out.out
    assert "SENSOR seq=" in out.out and "values=[423]" in out.out
    assert "crc_errors=0" in out.err


def test_ports_lists_without_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ports"]) == 0


def test_unknown_subcommand_exits_2() -> None:
    assert main(["fly"]) == 2


def test_simulate_prints_its_port_and_stops_cleanly_on_sigterm(
    host_tools: object,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge", "simulate", "--distance-cm", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert os.path.exists(port)
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.extend(proc.stdout.readlines()))  # type: ignore[union-attr]
        reader.start()
        assert main(["send", port, "motor_right", "-100"]) == 0
        time.sleep(0.2)
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        reader.join(5)
        assert "motor_right=-100\n" in got
        assert not os.path.exists(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
