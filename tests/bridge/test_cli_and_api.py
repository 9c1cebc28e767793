from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

import firmware_bridge
from firmware_bridge.tools.cli import main
from firmware_bridge.tools.simulator import HostSimulator

# Under load (2 cores shared with model training) a subprocess can take seconds to start; waits
# end as soon as their condition holds, so a generous deadline costs nothing when all is well.
DEADLINE_S = 30.0


class StdoutLines:
    """Collects a child's stdout lines on a thread; tests wait for a condition on them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._cond = threading.Condition()
        self.lines: list[str] = []
        self._thread = threading.Thread(
            target=self._run, name="test-stdout", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        for line in self._stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(
        self, condition: Callable[[str], bool], timeout_s: float = DEADLINE_S
    ) -> bool:
        """True once ``condition`` holds for everything printed so far, False at the deadline."""
        with self._cond:
            return self._cond.wait_for(
                lambda: condition("".join(self.lines)), timeout_s
            )

    def join(self) -> str:
        """Everything printed, once the child has closed its stdout."""
        self._thread.join(DEADLINE_S)
        return "".join(self.lines)


def bridge_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


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


def test_monitor_prints_decoded_frames(sim: HostSimulator) -> None:
    # Stopped by SIGTERM once the frames are out, not after a fixed window that a loaded host
    # may not fill; --duration-s only bounds a monitor the test failed to stop.
    proc = bridge_cli("monitor", sim.port, "--duration-s", str(2 * DEADLINE_S))
    try:
        out = StdoutLines(proc)
        # Not asserted here: the asserts below say which line is missing.
        out.wait_for(
            lambda text: "fw=edge-seek-sim/1.0.0" in text and "values=[423]" in text
        )
        proc.terminate()
        assert proc.wait(timeout=DEADLINE_S) == 0
        printed = out.join()
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        stop(proc)
    assert "HELLO seq=" in printed and "fw=edge-seek-sim/1.0.0" in printed
    assert "SENSOR seq=" in printed and "values=[423]" in printed
    assert "crc_errors=0" in err


def test_ports_lists_without_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ports"]) == 0


def test_unknown_subcommand_exits_2() -> None:
    assert main(["fly"]) == 2


def test_simulate_prints_its_port_and_stops_cleanly_on_sigterm(
    host_tools: object,
) -> None:
    proc = bridge_cli("simulate", "--distance-cm", "30")
    try:
        out = StdoutLines(proc)
        assert out.wait_for(lambda text: "\n" in text)
        port = out.lines[0].strip()
        assert os.path.exists(port)
        assert main(["send", port, "motor_right", "-100"]) == 0
        # The command prints what the firmware applied on its next poll: wait for it to show.
        out.wait_for(lambda text: "motor_right=-100\n" in text)
        proc.terminate()
        assert proc.wait(timeout=DEADLINE_S) == 0
        assert "motor_right=-100\n" in out.join().splitlines(keepends=True)
        assert not os.path.exists(port)
    finally:
        stop(proc)
