"""``edge-sdk demo`` end to end: a 10 s run of the whole loop, as `make demo` runs it for a minute."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.demo.metrics import FrameTruth, percentile_ms, score

ACCURACY_FLOOR = 0.75  # a few points under the lowest of 8 measured runs (0.787); see the test


@pytest.mark.slow
def test_demo_ten_seconds_delivers_every_result_and_drives_the_motors(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli", "demo", "--seconds", "10", "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["published"] == summary["received"] > 100  # 10 s at 15 fps, a few late frames dropped
    assert summary["commands_acked"] > 0
    assert summary["commands_acked"] == summary["commands_sent"]
    # Floor measured on this 10 s clip (seed 0) with the shipped seek bundle, 8 runs on the 2-core dev box
    # (2026-12-02): 0.987 unloaded, 0.79-0.95 while other test suites ran (the misses are blocked<->center:
    # the MCU simulator's distance readings reach the runtime late under load). Chance on 5 labels is 0.2;
    # a model, alignment or label-order fault lands far below this floor.
    assert isinstance(summary["accuracy"], float) and summary["accuracy"] >= ACCURACY_FLOOR, summary["confusion"]
    assert summary["scored"] == summary["received"]
    assert 0.0 < summary["latency_p50_ms"] <= summary["latency_p99_ms"]
    assert summary["sensor_frames"] > 100  # 20 Hz over the serial protocol
    assert summary["error"] is None
    assert "seek demo summary" in proc.stdout
    # the status line ticks once a second on stderr
    assert proc.stderr.count("results ") >= 5
    assert (tmp_path / "demo" / "seek.truth.jsonl").is_file()


def test_demo_rejects_a_missing_bundle_with_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge_sdk.cli", "demo", "--seconds", "2", "--workdir", str(tmp_path),
         "--model", str(tmp_path / "nope.tflite")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "nope.tflite" in proc.stderr


def test_score_matches_decisions_to_frames_by_media_time() -> None:
    truth = FrameTruth(("left", "left", "center", "blocked"), fps=10.0)
    result = score([(0.0, "left"), (0.1, "center"), (0.2, "center"), (0.3, "blocked"), (5.0, "left")], truth)
    assert (result.scored, result.correct) == (4, 3)
    assert result.confusion[("left", "center")] == 1
    assert result.accuracy == 0.75


def test_percentile_is_nearest_rank() -> None:
    assert percentile_ms([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile_ms([float(v) for v in range(1, 101)], 99) == 99.0
    assert percentile_ms([], 50) is None


@pytest.mark.slow
def test_the_demo_says_where_to_watch_it_and_what_to_do_next(tmp_path: Path) -> None:
    """A dashboard URL that answers while it runs, a ws:// broker a WebSocket MQTT client reaches, then 'what next'."""
    import re
    import threading
    import urllib.request

    from edge_sdk.testing import MQTTRecorder

    process = subprocess.Popen(
        [sys.executable, "-m", "edge_sdk.cli", "demo", "--seconds", "8", "--workdir", str(tmp_path / "demo"),
         "--dashboard-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    err: list[str] = []
    try:
        for line in process.stderr:
            err.append(line)
            if " and ws://" in line:
                break
        text = "".join(err)
        dashboard = re.search(r"dashboard (http://127\.0\.0\.1:\d+/)", text)
        ws = re.search(r"(ws://127\.0\.0\.1:(\d+)/) \(MQTT over WebSockets\)", text)
        assert dashboard and ws, text[-2000:]
        with urllib.request.urlopen(dashboard.group(1), timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        with urllib.request.urlopen(dashboard.group(1) + "config.json", timeout=5) as config:
            assert json.loads(config.read())["ws_url"] == ws.group(1)
        with MQTTRecorder("127.0.0.1", int(ws.group(2)), ["edge_sdk/seek-demo/events"], protocol="3.1.1",
                          transport="websockets") as recorder:
            assert recorder.wait_for(lambda messages: len(messages) >= 3, 10.0)
        err.extend(process.stderr)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    reader.join(5)
    assert process.returncode == 0, "".join(err)[-2000:]
    tail = "".join(err).split("what next:", 1)
    assert len(tail) == 2, "".join(err)[-2000:]
    assert all(f"your {what}:" in tail[1] for what in ("camera", "own data", "own .tflite"))
    assert json.loads(out[-1])["published"] > 0  # the JSON summary stays the last line of stdout
