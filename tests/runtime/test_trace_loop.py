"""Trace files loop with a looping video (``camera.loop: true``): every pass replays the text and sensor
traces at the same media times, so no pass skips a frame that the first did not, and skews repeat.

Real parts: seek clips written by ``write_clip`` with their traces, the shipped bundle, the runtime
with its sources, capture thread or capture process, and the real replay clocks.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import Runtime, parse_config
from edge_sdk.clock import MediaClock, WallReplayClock, now_s
from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.pipeline.readings import TraceReplay
from edge_sdk.runtime import default_bundle_path

pytestmark = pytest.mark.timeout(120)

FPS = 10.0
SECONDS = 2.0
FRAMES = int(SECONDS * FPS)
SEED = 5
SENSOR_HZ = 100.0  # 200 records a pass: more than a slot's history (128), which hid the bug for shorter traces


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # commands every 0.5 s: the text changes within a pass, so a pass that kept the last command would show
    return write_clip(tmp_path_factory.mktemp("loop") / "seek.mp4",
                      SeekClip(seconds=SECONDS, fps=FPS, size=64, seed=SEED, command_period_s=0.5,
                               sensor_hz=SENSOR_HZ))


def _run(camera: dict[str, Any], text_path: Path, sensor_path: Path, max_frames: int,
         sensor_max_age_s: float | None = 1.0) -> tuple[dict[str, Any], list[Any]]:
    config = parse_config({
        "device": "pi-loop",
        "model": {"path": str(default_bundle_path())},
        "camera": camera,
        "text": {"source": "file", "path": str(text_path)},
        "sensor": {"source": "file", "path": str(sensor_path), "max_age_s": sensor_max_age_s},
        "pipeline": {"max_frames": max_frames},
        "embedded_broker": {"enabled": False},
    })
    seen: list[Any] = []
    with Runtime(config, on_result=seen.append) as runtime:
        stats = runtime.run()
    return stats, seen


def _trace(path: Path) -> dict[float, Any]:
    return {round(r["t_s"], 3): r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize(("source", "capture"), [("file", "thread"), ("file", "process"), ("seek", "thread")])
def test_every_frame_loop_replays_the_traces_on_every_pass(clip, source, capture) -> None:  # type: ignore[no-untyped-def]
    spec = (f"file://{clip.video}" if source == "file"
            else f"seek://?seconds={SECONDS:g}&fps={FPS:g}&seed={SEED}&size=64")
    camera = {"source": spec, "playback": "every_frame", "loop": True, "capture": capture}
    stats, seen = _run(camera, clip.commands, clip.sensor, max_frames=3 * FRAMES)
    assert stats["drops"]["incomplete_inputs"] == 0
    assert stats["results"] == len(seen) == 3 * FRAMES
    assert [r.frame_index for r in seen] == list(range(3 * FRAMES))
    sensor_trace = _trace(clip.sensor)
    for i in range(FRAMES):
        first, second, third = seen[i], seen[FRAMES + i], seen[2 * FRAMES + i]
        # results keep the position in the file: ground truth is looked up by it
        assert first.media_t_s == second.media_t_s == third.media_t_s == pytest.approx(i / FPS)
        assert third.sensor == first.sensor and second.sensor == first.sensor
        assert third.text == first.text and second.text == first.text
        assert third.skew_ms == pytest.approx(first.skew_ms, abs=1e-3)
        assert 0.0 <= first.skew_ms < 1000.0 / SENSOR_HZ + 0.5  # the sample at or before the frame
        sample_t_s = round(round((i / FPS - first.skew_ms / 1000.0) * SENSOR_HZ) / SENSOR_HZ, 3)
        assert first.sensor == {"distance_cm": sensor_trace[sample_t_s]["distance_cm"]}
        # frames and readings stay on one unwrapped timeline: pass 3 is two video lengths after pass 1
        assert third.frame_ts - first.frame_ts == pytest.approx(2 * SECONDS, abs=1e-6)
        assert third.sensor_ts - first.sensor_ts == pytest.approx(2 * SECONDS, abs=1e-6)
    assert len({r.text for r in seen[:FRAMES]}) > 1  # the commands did change within a pass


def test_every_frame_loop_without_max_age_does_not_stall(clip) -> None:  # type: ignore[no-untyped-def]
    """``sensor.max_age_s: null``: the reading never expires, yet its skew must repeat pass 1's, not grow."""
    camera = {"source": f"file://{clip.video}", "playback": "every_frame", "loop": True}
    stats, seen = _run(camera, clip.commands, clip.sensor, max_frames=3 * FRAMES, sensor_max_age_s=None)
    assert stats["drops"]["incomplete_inputs"] == 0
    assert stats["results"] == 3 * FRAMES
    assert max(abs(r.skew_ms) for r in seen) < 1000.0 / SENSOR_HZ + 0.5


def test_non_looping_run_replays_the_traces_once(clip) -> None:  # type: ignore[no-untyped-def]
    camera = {"source": f"file://{clip.video}", "playback": "every_frame"}
    stats, seen = _run(camera, clip.commands, clip.sensor, max_frames=0)
    assert stats["results"] == FRAMES
    assert stats["drops"]["incomplete_inputs"] == 0
    assert [r.media_t_s for r in seen] == pytest.approx([i / FPS for i in range(FRAMES)])
    assert all(0.0 <= r.skew_ms < 1000.0 / SENSOR_HZ + 0.5 for r in seen)


@pytest.mark.timeout(40)  # a run whose traces stop at the first pass never reaches max_frames
@pytest.mark.parametrize("capture", ["thread", "process"])
def test_realtime_loop_replays_the_traces_on_the_wall_clock_each_pass(tmp_path: Path, capture: str) -> None:
    short = write_clip(tmp_path / "short.mp4", SeekClip(seconds=1.0, fps=FPS, size=64, seed=SEED))
    camera = {"source": f"file://{short.video}", "loop": True, "capture": capture}
    stats, seen = _run(camera, short.commands, short.sensor, max_frames=25)  # 2.5 passes, 2.5 s
    sensor_trace = _trace(short.sensor)
    assert stats["results"] == 25
    assert stats["drops"]["incomplete_inputs"] == 0  # main: pass 3 finds the last reading of pass 1 expired
    start_s = seen[0].frame_ts  # trace time 0: the first frame (all *_ts are wall seconds on one mapping)
    later = [r for r in seen if r.frame_index >= 10]  # passes 2 and 3
    assert len(later) >= 10
    for result in later:
        # frames are stamped when captured (late under load) and a wall replay releases readings when due:
        # a pass-1-like skew, not one that grows with every pass (main: hundreds of ms, then expired)
        assert -5.0 < result.skew_ms < 150.0
        # the reading is a record of the trace replayed at pass offset + t_s: its value is the trace's at t_s
        position_s = result.sensor_ts - start_s
        samples = round(position_s * 20)
        assert position_s == pytest.approx(samples / 20, abs=2e-3)
        assert result.sensor == {"distance_cm": sensor_trace[round(samples % 20 / 20, 3)]["distance_cm"]}


def _records(times: list[float]) -> list[tuple[float, dict[str, float]]]:
    return [(t_s, {"distance_cm": 100.0 + t_s}) for t_s in times]


def test_records_beyond_the_video_are_passed_over_on_each_pass() -> None:
    """A 1 s video with trace records up to 1.5 s: each pass ends at 1 s and the next starts at its own t = 0."""
    clock = MediaClock()
    got: list[tuple[dict[str, float], float]] = []
    replay = TraceReplay(_records([0.0, 0.5, 0.95, 1.0, 1.5]), lambda v, ts: got.append((v, ts)), clock, "test")
    replay.start()
    origin_s = now_s()
    for pass_index in range(3):
        if pass_index:
            clock.new_pass(pass_index * 1.0)
        for frame in range(10):
            clock.advance(frame / 10, origin_s + pass_index + frame / 10)
    replay.stop()
    values = [v["distance_cm"] for v, _ in got]
    # 0.95 s lies between the last frame (0.9 s) and the end: the wrap releases it, the last pass ends before
    assert values == [100.0, 100.5, 100.95] * 2 + [100.0, 100.5]
    stamps = [ts for _, ts in got]
    assert stamps == pytest.approx([origin_s + p + t for p in range(3) for t in (0.0, 0.5, 0.95)][:-1])
    assert replay.beyond_video == 2 * 2  # 1.0 and 1.5, at the end of passes 1 and 2
    assert replay.passes == 3


def test_an_empty_trace_loops_without_a_thread_spinning() -> None:
    clock = WallReplayClock()
    replay: TraceReplay[dict[str, float]] = TraceReplay([], lambda v, ts: None, clock, "test-empty")
    replay.start()
    clock.new_pass(1.0)
    assert replay.done.wait(1.0)
    replay.stop()
    assert replay.replayed == 0 and replay.beyond_video == 0


def test_a_new_pass_ends_a_wall_clock_wait_at_once() -> None:
    """A replay thread sleeping toward a record beyond the video moves to the next pass when the video loops."""
    clock = WallReplayClock()
    outcome: list[tuple[bool, float]] = []

    def wait() -> None:
        began_s = now_s()
        outcome.append((clock.wait_until(30.0, 10.0), now_s() - began_s))

    waiter = threading.Thread(target=wait)
    waiter.start()
    threading.Event().wait(0.1)
    clock.new_pass(1.0)
    waiter.join(5.0)
    assert outcome and outcome[0][0] is False
    assert outcome[0][1] < 5.0  # not the 10 s timeout
    assert clock.wait_until(0.0, 0.0) is True  # a time already reached needs no wait


def test_the_wall_clock_replay_starts_each_pass_with_its_first_records() -> None:
    clock = WallReplayClock()
    got: list[tuple[float, float]] = []
    four = threading.Event()

    def setter(value: dict[str, float], timestamp_s: float) -> None:
        got.append((value["distance_cm"], timestamp_s - clock.start_s))
        if len(got) == 4:
            four.set()

    # 30.0 lies far beyond a 0.2 s video: the replay thread sleeps toward it until the video loops
    replay = TraceReplay(_records([0.0, 0.05, 30.0]), setter, clock, "test-wake")
    replay.start()
    try:
        while len(got) < 2:
            clock.wait_until(0.06, 0.1)
        clock.new_pass(0.2)  # the source wraps a frame early at most: the pass's t = 0 record comes at once
        assert len(got) == 3 and got[2] == pytest.approx((100.0, 0.2))
        assert four.wait(5.0)
        assert got[3] == pytest.approx((100.05, 0.25))  # stamped at its own instant on pass 2
        assert replay.beyond_video == 1
    finally:
        replay.stop()
