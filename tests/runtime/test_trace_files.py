"""Text and sensor sources tell a trace file from live lines by one rule: a first record with t_s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_sdk.sources import SensorConfig, TextConfig, open_sensor_source, open_text_source
from edge_sdk.sources.trace import is_trace_file

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("first_line", "is_trace"),
    [
        ('{"t_s": 0.0, "text": "find the red circle"}', True),
        ('{"t_s": 0.05, "distance_cm": 97.2}', True),
        ('{"text": "find the red circle"}', False),
        ("find the red circle", False),
        ("[1, 2]", False),
    ],
)
def test_one_rule_decides_what_a_trace_is(tmp_path: Path, first_line: str, is_trace: bool) -> None:
    path = tmp_path / "input.jsonl"
    path.write_text(f"\n{first_line}\n", encoding="utf-8")
    assert is_trace_file(path) is is_trace


def _wait_latest(slot: object) -> object:
    deadline_s = time.monotonic() + 5.0
    while time.monotonic() < deadline_s:
        latest = slot.latest()  # type: ignore[attr-defined]
        if latest is not None:
            return latest[0]
        time.sleep(0.01)
    raise AssertionError("no value arrived")


def test_text_file_of_json_commands_without_t_s_is_read_as_live_lines(tmp_path: Path) -> None:
    path = tmp_path / "commands.jsonl"
    path.write_text('{"text": "find the blue square"}\n', encoding="utf-8")
    with open_text_source(TextConfig(source="file", path=str(path))) as slot:
        assert _wait_latest(slot) == "find the blue square"


def test_sensor_file_with_t_s_is_a_trace_and_text_file_with_t_s_too(tmp_path: Path) -> None:
    sensor_path, text_path = tmp_path / "sensor.jsonl", tmp_path / "text.jsonl"
    sensor_path.write_text('{"t_s": 0.0, "distance_cm": 42.0}\n', encoding="utf-8")
    text_path.write_text('{"t_s": 0.0, "text": "find the red circle"}\n', encoding="utf-8")
    assert is_trace_file(sensor_path) and is_trace_file(text_path)
    with open_sensor_source(SensorConfig(source="file", path=str(sensor_path))) as sensor:
        assert sensor is not None
        assert _wait_latest(sensor) == {"distance_cm": 42.0}
    with open_text_source(TextConfig(source="file", path=str(text_path))) as text:
        assert _wait_latest(text) == "find the red circle"
