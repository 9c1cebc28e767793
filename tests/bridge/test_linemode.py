from __future__ import annotations

import os
import random
import time
import tty
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge.config import LineModeConfig
from firmware_bridge.errors import BridgeConfigError, LinkError
from firmware_bridge.link.linemode import LineParser, LineReader
from firmware_bridge.link.lineparse import LineSplitter
from firmware_bridge.link.reading import SensorReading
from firmware_bridge.tools.linefuzz import HOSTILE_KINDS, hostile_line


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


# -- hostile lines: each is rejected with a counted reason, and the reader keeps reading ----------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"d": 1' + b"0" * 400 + b"}", "number_range"),  # OverflowError in float() before
        (b"[" * 2000 + b"]" * 2000, "too_long"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, "nesting"),  # RecursionError before
        (b"[" * 900 + b"]" * 90, "nesting"),
        (b'{"d": NaN}', "not_finite"),
        (b'{"d": -Infinity}', "not_finite"),
        (b'{"d": 1e999}', "number_range"),
        (b'{"d": 1' + b"0" * 5000 + b"}", "too_long"),
        (b'{"d": "42", "e": null, "f": [1]}', "no_values"),
        (b'{"d": 1', "not_json"),
        (b"distance_cm=4\xff\xfe2", "not_utf8"),
        (b"x" * 1025, "too_long"),
    ],
)
def test_parser_rejects_hostile_lines_by_reason(raw: bytes, reason: str) -> None:
    parser = LineParser()
    assert parser.parse_bytes(raw) is None
    assert parser.last_reject == reason
    assert parser.rejects[reason] == 1


def test_line_splitter_caps_what_it_buffers() -> None:
    splitter = LineSplitter(8)
    assert splitter.feed(b"ab\r\n" + b"z" * 50) == [b"ab", b"z" * 9]
    assert splitter.feed(b"z" * 10_000) == []  # the rest of the long line is dropped, not kept
    assert splitter.feed(b"zz\nok\n") == [b"ok"]


def test_reader_survives_the_lines_that_used_to_end_its_thread(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    with LineReader.open(path) as reader:
        os.write(master, b'{"d": 1' + b"0" * 400 + b"}\n")
        os.write(master, b'{"a": ' * 300 + b"1" + b"}" * 300 + b"\n")
        os.write(master, b"distance_cm=12.5\n")
        assert reader.wait_for_reading(5.0).values == {"distance_cm": 12.5}
        stats = reader.stats()
    assert stats["rejected"]["number_range"] == 1
    assert stats["rejected"]["too_long"] == 1  # 1805 bytes: over the 1024-byte cap
    assert stats["reader_failures"] == 0 and stats["link_losses"] == 0


def test_reader_reads_every_hostile_line_and_accounts_for_each(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    rng = random.Random(7)
    lines = [hostile_line(rng, kind) for kind in HOSTILE_KINDS for _ in range(30)]
    with LineReader.open(path, LineModeConfig(time_key="t_ms")) as reader:
        for line in lines:
            os.write(master, line)
        os.write(master, b"fuzz_done=1\n")
        while reader.wait_for_reading(10.0).values.get("fuzz_done") != 1.0:
            pass
        stats = reader.stats()
    assert stats["reader_failures"] == 0
    assert stats["lines_ok"] + stats["lines_skipped"] == len(lines) + 1
    for reason in ("number_range", "nesting", "not_utf8", "too_long", "not_finite"):
        assert stats["rejected"][reason] > 0, reason


def test_a_failed_reader_thread_raises_at_the_owners_next_call(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    reader = LineReader.open(path)
    try:
        # Fast unit test of the surfacing path: the parser stands in for any bug in the thread.
        def broken(raw: bytes) -> dict[str, float] | None:
            raise RuntimeError("parser bug")

        reader._parser.parse_bytes = broken  # type: ignore[method-assign]
        os.write(master, b"distance_cm=1\n")
        with pytest.raises(LinkError, match="line reader of .* failed: RuntimeError"):
            reader.wait_for_reading(5.0)
        with pytest.raises(LinkError, match="parser bug"):
            reader.latest_reading()
        assert reader.stats()["reader_failures"] == 1 and reader.counts["link_losses"] == 1
    finally:
        reader.close()
