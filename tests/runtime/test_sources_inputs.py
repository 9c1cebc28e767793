"""Text and sensor sources: fixed prompt, stdin-like streams, trace replay on the run's clock,
max age, MQTT/bridge adapters, malformed input rejected and counted while the stream goes on."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_sdk import sources
from edge_sdk.clock import WallReplayClock, from_wall_s, now_s, to_wall_s, wall_s
from edge_sdk.demo.seek.video import SeekClip, write_clip
from edge_sdk.errors import ConfigError, SourceError
from edge_sdk.sources import (
    SensorConfig,
    SensorSlot,
    TextConfig,
    TextSlot,
    open_sensor_source,
    open_text_source,
)

pytestmark = pytest.mark.timeout(60)


def wait_for(predicate: object, timeout_s: float = 5.0) -> None:
    deadline_s = now_s() + timeout_s
    while not predicate() and now_s() < deadline_s:  # type: ignore[operator]
        time.sleep(0.01)
    assert predicate(), "condition not reached in time"  # type: ignore[operator]


def test_package_exports_are_complete_and_import_nothing_heavy() -> None:
    # the package exports lazily (PEP 562): what it can hand out is exactly what __all__ lists
    public = {name for name in dir(sources) if not name.startswith("_") and name != "annotations"}
    assert public >= set(sources.__all__)
    assert set(sources._EXPORTS) == set(sources.__all__)
    assert all(getattr(sources, name) is not None for name in sources.__all__)
    probe = "import sys, edge_sdk.sources; print(sorted({'cv2', 'picamera2', 'tensorflow', 'paho'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_clock_maps_runtime_and_wall_time_consistently() -> None:
    t = now_s()
    assert abs(to_wall_s(t) - time.time()) < 1.0
    assert from_wall_s(to_wall_s(t)) == pytest.approx(t)
    assert abs(wall_s() - time.time()) < 1.0


def test_fixed_prompt_never_ages() -> None:
    slot = open_text_source(TextConfig(source="fixed", prompt=" find the red circle "))
    text, ts = slot.latest(now_s() + 3600)  # type: ignore[misc]
    assert text == "find the red circle" and ts <= now_s()


def test_fixed_prompt_must_not_be_empty() -> None:
    with pytest.raises(ConfigError, match=r"text.prompt: expected the command text for source=fixed. Got: ''"):
        open_text_source(TextConfig(source="fixed"))


def test_text_from_stdin_lines_keeps_the_latest_and_rejects_bad_payloads() -> None:
    stdin = io.StringIO('find the red circle\n\n{"text": "seek blue square"}\n{"txt": 1}\n{broken\n')
    with open_text_source(TextConfig(source="stdin", max_age_s=30), stdin=stdin) as slot:
        wait_for(lambda: slot.updates == 2 and slot.rejected == 2)
        assert slot.latest()[0] == "seek blue square"  # type: ignore[index]
        assert slot.last_error is not None and slot.last_error.startswith("command payload is not valid JSON")


def test_text_max_age_makes_old_text_missing() -> None:
    slot = TextSlot("text:mqtt", max_age_s=0.5)
    slot.set("go to the green triangle", timestamp_s=now_s() - 1.0)
    assert slot.latest() is None
    slot.set("go to the green triangle")
    assert slot.latest() is not None
    assert slot.latest(at_s=now_s() + 0.6) is None


def test_mqtt_text_adapter_is_a_setter() -> None:
    slot = open_text_source(TextConfig(source="mqtt"))
    assert slot.latest() is None
    assert slot.set_from_payload(b"locate the yellow circle")
    assert not slot.set_from_payload(b"\xff\xfe")
    assert not slot.set_from_payload("x" * 1001)
    assert slot.latest()[0] == "locate the yellow circle" and slot.rejected == 2  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"text.source: expected one of 'none', 'fixed', 'stdin', 'file', 'mqtt'. Got: 'tty'"):
        TextConfig.from_mapping({"source": "tty"})


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> object:
    clip = SeekClip(seconds=2.0, fps=10.0, size=64, seed=2, command_period_s=0.5, sensor_hz=20.0)
    return clip, write_clip(tmp_path_factory.mktemp("traces") / "clip.mp4", clip)


def test_command_trace_replays_on_the_run_clock(traces: object) -> None:
    clip, paths = traces  # type: ignore[misc]
    start_s = now_s()
    config = TextConfig(source="file", path=str(paths.commands))
    with open_text_source(config, clock=WallReplayClock(start_s)) as slot:
        first = slot.wait_since(start_s - 1, timeout_s=2)
        assert first == (clip.command_at(0.0), start_s)
        assert slot.wait_since(start_s + 0.5, timeout_s=0.2) is None  # the next command is due at 0.5 s
        wait_for(lambda: slot.updates == 4)
        text, ts = slot.latest()  # type: ignore[misc]
    assert text == clip.command_at(1.5) and ts == pytest.approx(start_s + 1.5)
    assert now_s() - start_s >= 1.5  # paced, not dumped at once


def test_plain_text_file_lines_set_the_text(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("find the red circle\nfind the blue square\n")
    with open_text_source(TextConfig(source="file", path=str(path))) as slot:
        wait_for(lambda: slot.updates == 2)
        assert slot.latest()[0] == "find the blue square"  # type: ignore[index]


def test_missing_text_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"text:file: file not found: .*nope.txt"):
        open_text_source(TextConfig(source="file", path=str(tmp_path / "nope.txt")))


def test_sensor_trace_replays_with_the_trace_timestamps(traces: object) -> None:
    clip, paths = traces  # type: ignore[misc]
    start_s = now_s()
    config = SensorConfig(source="file", path=str(paths.sensor), max_age_s=0.5)
    with open_sensor_source(config, clock=WallReplayClock(start_s)) as slot:  # type: ignore[union-attr]
        assert slot is not None
        wait_for(lambda: slot.updates >= 10, timeout_s=5)
        values, ts = slot.latest()  # type: ignore[misc]
        t_s = round(ts - start_s, 4)
        assert values == {"distance_cm": clip.distance_at(t_s)}
        assert t_s * 20 == pytest.approx(round(t_s * 20))  # on the 20 Hz trace grid
    assert slot.rejected == 0


def test_sensor_lines_from_stdin_reject_malformed_and_go_on() -> None:
    epoch_s = time.time() - 0.25
    lines = [
        json.dumps({"distance_cm": 42.0, "ts": epoch_s}),
        "not json",
        json.dumps({"distance_cm": "near"}),
        json.dumps([1, 2]),
        json.dumps({"ts": epoch_s}),
        json.dumps({"distance_cm": True}),
        json.dumps({"distance_cm": 43.5, "battery_v": 7}),
    ]
    stdin = io.StringIO("\n".join(lines) + "\n")
    with open_sensor_source(SensorConfig(source="stdin", max_age_s=5.0), stdin=stdin) as slot:  # type: ignore[union-attr]
        assert slot is not None
        wait_for(lambda: slot.updates + slot.rejected == len(lines))
        assert slot.updates == 2 and slot.rejected == 5
        values, _ = slot.latest()  # type: ignore[misc]
    assert values == {"distance_cm": 43.5, "battery_v": 7.0}
    assert slot.last_error == "sensor value 'distance_cm' must be a finite number. Got: True"


def test_sensor_ts_is_mapped_from_wall_time() -> None:
    slot = SensorSlot("sensor:mqtt", max_age_s=1.0)
    assert slot.update_from_json(json.dumps({"distance_cm": 50, "ts": time.time() - 0.3}))
    _, ts = slot.latest()  # type: ignore[misc]
    assert now_s() - ts == pytest.approx(0.3, abs=0.1)
    assert slot.update_from_json(json.dumps({"distance_cm": 50, "ts": time.time() - 5}))
    assert slot.latest() is None  # stale by its own timestamp, not its arrival
    assert not slot.update_from_json(b'{"distance_cm": NaN}')
    assert slot.rejected == 1


def test_sensor_from_a_fifo_streams_live_lines(tmp_path: Path) -> None:
    fifo = tmp_path / "sensor.fifo"
    os.mkfifo(fifo)
    writer_done = threading.Event()

    def write() -> None:
        with fifo.open("w") as stream:
            stream.write('{"distance_cm": 12.5}\n{oops\n')
            stream.flush()
            writer_done.wait(5)

    thread = threading.Thread(target=write, name="test-fifo-writer", daemon=True)
    thread.start()
    with open_sensor_source(SensorConfig(source="file", path=str(fifo))) as slot:  # type: ignore[union-attr]
        assert slot is not None
        wait_for(lambda: slot.updates == 1 and slot.rejected == 1)
        assert slot.latest()[0] == {"distance_cm": 12.5}  # type: ignore[index]
        writer_done.set()
    thread.join(5)


def test_bridge_adapter_is_an_update_call() -> None:
    slot = open_sensor_source(SensorConfig(source="bridge", max_age_s=0.2))
    assert slot is not None and slot.latest() is None
    taken_s = now_s()
    slot.update({"distance_cm": 18.0, "ir_left": 1.0}, taken_s)
    assert slot.latest() == ({"distance_cm": 18.0, "ir_left": 1.0}, taken_s)
    assert slot.latest(at_s=taken_s + 0.3) is None
    assert open_sensor_source(SensorConfig(source="none")) is None


def test_sensor_config_is_strict(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sensor.max_age: unknown key. Valid keys for sensor: max_age_s, path, source"):
        SensorConfig.from_mapping({"source": "stdin", "max_age": 1})
    with pytest.raises(SourceError, match=r"sensor:file: file not found"):
        open_sensor_source(SensorConfig(source="file", path=str(tmp_path / "none.jsonl")))
