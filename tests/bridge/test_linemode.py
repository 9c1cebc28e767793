from __future__ import annotations

import os
import time
import tty
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge.config import LineModeConfig
from firmware_bridge.errors import BridgeConfigError
from firmware_bridge.link.linemode import LineParser, LineReader
from firmware_bridge.link.reading import SensorReading


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("distance_cm=42.5 temp_c=21", {"distance_cm": 42.5, "temp_c": 21.0}),
        ("distance_cm: 42.5, led: 1", {"distance_cm": 42.5, "led": 1.0}),
        ('{"distance_cm": 42.5, "name": "x", "ok": true}', {"distance_cm": 42.5}),
        ("hello from setup()", None),
        ("", None),
        ("distance_cm=nan", None),
    ],
)
def test_auto_format_parses_kv_and_json_and_skips_chatter(
    line: str, expected: dict[str, float] | None
) -> None:
    assert LineParser().parse(line) == expected


def test_csv_needs_a_header_and_follows_a_new_one() -> None:
    parser = LineParser("csv")
    assert parser.parse("1,2") is None  # no header yet
    assert parser.parse("distance_cm,temp_c") is None
    assert parser.parse("42.5, 21") == {"distance_cm": 42.5, "temp_c": 21.0}
    assert parser.parse("42.5") is None  # wrong column count
    assert parser.parse("a,b,c") is None
    assert parser.parse("1,2,3") == {"a": 1.0, "b": 2.0, "c": 3.0}


def test_bad_format_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(
        BridgeConfigError,
        match=r"format must be one of auto, kv, csv, json\. Got: 'xml'",
    ):
        LineModeConfig(format="xml")  # type: ignore[arg-type]


def wait_latest(reader: LineReader, predicate: Callable[[SensorReading], bool], timeout_s: float = 2.0) -> SensorReading:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reading = reader.latest_reading()
        if reading is not None and predicate(reading):
            return reading
        time.sleep(0.01)
    raise AssertionError(f"no matching reading within {timeout_s} s; latest: {reader.latest_reading()}")


def test_reader_on_a_pty_yields_readings_with_mcu_time_mapped(
    pty_pair: tuple[int, str],
) -> None:
    master, path = pty_pair
    with LineReader.open(path, LineModeConfig(time_key="t_ms")) as reader:
        os.write(master, b"booting...\r\n")
        os.write(master, b"t_ms=1000 distance_cm=80\r\n")
        first = wait_latest(reader, lambda r: r.mcu_time_ms == 1000)
        os.write(master, b"t_ms=1500 distance_cm=") + os.write(
            master, b"75.5\r\n"
        )  # split write
        second = wait_latest(reader, lambda r: r.mcu_time_ms == 1500)
    assert first.values == {"distance_cm": 80.0} and first.mcu_time_ms == 1000
    assert second.values == {"distance_cm": 75.5}
    assert reader.counts["lines_skipped"] == 1
    assert second.timestamp_s <= second.received_s


def test_reader_drops_overlong_lines_and_keeps_going(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    with LineReader.open(path, LineModeConfig(max_line_bytes=64)) as reader:
        os.write(master, b"x" * 500)
        os.write(master, b"\ndistance_cm=10\n")
        assert wait_latest(reader, lambda r: True).values == {"distance_cm": 10.0}
        assert reader.counts["lines_oversize"] >= 1
