from __future__ import annotations

import os
import subprocess
import sys
import threading
import tty
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
    sim.wait_for_actuator("motor_left", 250, timeout_s=5.0)  # the APPLY line may trail the ACK


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


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["monitor", "/dev/null", "--baudrate", "0"], "baudrate must be > 0. Got: 0"),
        (["monitor", "/dev/null", "--baudrate", "-9600"], "baudrate must be > 0"),
        (["monitor", "", "--line-mode"], "serial URL must not be empty"),
        (["monitor", "/dev/null", "--duration-s", "nan"], "duration-s must be > 0. Got: nan"),
        (["monitor", "/dev/null", "--line-mode", "--max-line-bytes", "0"], "max-line-bytes must be >= 1"),
        (["send", "/dev/null", "led", "1", "--baudrate", "0"], "baudrate must be > 0. Got: 0"),
        (["send", "", "led", "1"], "serial URL must not be empty"),
        (["send", "/dev/null", "led", "1", "--timeout-s", "0"], "timeout-s must be > 0. Got: 0"),
        (["send", "/dev/null", "led", "one"], "argument value: invalid int value: 'one'"),
        (["simulate", "--sensor-period-ms", "-1"], "sensor-period-ms must be >= 0. Got: -1"),
        (["simulate", "--failsafe-ms", "x"], "failsafe-ms must be a number. Got: 'x'"),
        (["simulate", "--distance-cm", "inf"], "distance-cm must be a finite number. Got: inf"),
        (["simulate", "--distance-cm", "-5"], "distance-cm must be >= -1. Got: -5"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1, captured.err
    assert says in captured.err and captured.err.startswith("edge-sdk bridge")


def test_monitor_line_mode_survives_hostile_lines_and_counts_them(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    stop_writing = threading.Event()

    def device() -> None:
        # Written over and over: the monitor flushes what was buffered before it opened the port.
        while not stop_writing.is_set():
            os.write(master, b'{"d": 1' + b"0" * 400 + b"}\n")
            os.write(master, b'{"a": ' * 300 + b"1" + b"}" * 300 + b"\n")
            os.write(master, b'{"a": ' * 50 + b"1" + b"}" * 50 + b"\n")
            os.write(master, b"distance_cm=42.5\n")
            stop_writing.wait(0.02)

    writer = threading.Thread(target=device, daemon=True)
    writer.start()
    try:
        code = main(["monitor", os.ttyname(slave), "--line-mode", "--duration-s", "1.0"])
    finally:
        stop_writing.set()
        writer.join(2.0)
        os.close(master)
        os.close(slave)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "distance_cm=42.5" in captured.out
    summary = captured.err.strip().splitlines()[-1]
    assert "number_range=" in summary and "nesting=" in summary and "too_long=" in summary, summary
