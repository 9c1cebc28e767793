"""Alignment of text and sensor readings to frames: policies, max age, skew, media-clock replay."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.clock import MediaClock, now_s
from edge_sdk.demo.seek.video import SeekClip, write_clip
from edge_sdk.pipeline import AlignedInputs, Aligner
from edge_sdk.sources import (
    AlignConfig,
    CameraConfig,
    Frame,
    SensorConfig,
    SensorSlot,
    TextConfig,
    TextSlot,
    open_frame_source,
    open_sensor_source,
    open_text_source,
)

pytestmark = pytest.mark.timeout(60)

PIXELS = np.zeros((8, 8, 3), np.uint8)


def frame_at(timestamp_s: float, index: int = 0) -> Frame:
    return Frame(PIXELS, "RGB", timestamp_s, index, "test")


def test_latest_policy_takes_readings_within_max_age_and_reports_skew() -> None:
    text, sensor = TextSlot("text", max_age_s=10.0), SensorSlot("sensor", max_age_s=0.5)
    t0 = now_s()
    text.set("find the red circle", t0 - 2.0)
    sensor.update({"distance_cm": 30.0}, t0 - 0.120)
    aligned = Aligner(text, sensor).align(frame_at(t0))
    assert aligned.text == "find the red circle" and aligned.text_ts == t0 - 2.0
    assert aligned.sensor == {"distance_cm": 30.0} and aligned.sensor_ts == t0 - 0.120
    assert aligned.skew_ms == pytest.approx(120.0)


def test_readings_older_than_max_age_are_missing_and_counted() -> None:
    text, sensor = TextSlot("text", max_age_s=1.0), SensorSlot("sensor", max_age_s=0.5)
    t0 = now_s()
    text.set("seek blue square", t0 - 1.5)
    sensor.update({"distance_cm": 30.0}, t0 - 0.6)
    aligner = Aligner(text, sensor)
    aligned = aligner.align(frame_at(t0))
    assert aligned == AlignedInputs(aligned.frame, None, None, None, None, None)
    assert aligner.stats() == {"frames": 1, "text_missing": 1, "sensor_missing": 1, "fresh_timeouts": 0}


def test_wait_fresh_waits_for_a_reading_newer_than_the_frame() -> None:
    sensor = SensorSlot("sensor", max_age_s=1.0)
    t0 = now_s()
    sensor.update({"distance_cm": 80.0}, t0 - 0.05)
    later = threading.Timer(0.05, lambda: sensor.update({"distance_cm": 81.0}))
    later.start()
    aligner = Aligner(None, sensor, AlignConfig(policy="wait_fresh", wait_timeout_s=2.0))
    aligned = aligner.align(frame_at(t0))
    later.join()
    assert aligned.sensor == {"distance_cm": 81.0}
    assert aligned.skew_ms is not None and aligned.skew_ms < 0  # the reading came after the frame
    assert aligned.text is None and aligner.fresh_timeouts == 0


def test_wait_fresh_falls_back_to_latest_after_the_timeout() -> None:
    sensor = SensorSlot("sensor", max_age_s=1.0)
    t0 = now_s()
    sensor.update({"distance_cm": 80.0}, t0 - 0.05)
    aligner = Aligner(None, sensor, AlignConfig(policy="wait_fresh", wait_timeout_s=0.05))
    started_s = now_s()
    aligned = aligner.align(frame_at(t0))
    assert now_s() - started_s < 1.0
    assert aligned.sensor == {"distance_cm": 80.0} and aligned.skew_ms == pytest.approx(50.0)
    assert aligner.fresh_timeouts == 1


def test_wait_fresh_does_not_wait_when_a_fresh_reading_is_there() -> None:
    sensor = SensorSlot("sensor", max_age_s=1.0)
    t0 = now_s()
    sensor.update({"distance_cm": 80.0}, t0 + 0.01)
    aligner = Aligner(None, sensor, AlignConfig(policy="wait_fresh", wait_timeout_s=5.0))
    assert aligner.align(frame_at(t0)).skew_ms == pytest.approx(-10.0)


def test_align_config_is_strict() -> None:
    from edge_sdk.errors import ConfigError

    with pytest.raises(ConfigError, match=r"align.policy: expected one of 'latest', 'wait_fresh'. Got: 'newest'"):
        AlignConfig.from_mapping({"policy": "newest"})


def test_align_is_cheap_per_frame() -> None:
    text, sensor = TextSlot("text", max_age_s=10.0), SensorSlot("sensor", max_age_s=10.0)
    text.set("find the red circle")
    sensor.update({"distance_cm": 30.0}, now_s())
    aligner = Aligner(text, sensor)
    frame = frame_at(now_s())
    count = 20_000
    started_s = time.perf_counter()
    for _ in range(count):
        aligner.align(frame)
    per_frame_us = (time.perf_counter() - started_s) / count * 1e6
    assert per_frame_us < 100  # about 2 us here; generous for a loaded 2-core machine


def test_every_frame_playback_drives_trace_replay_through_the_media_clock(tmp_path: Path) -> None:
    """Video decoded as fast as possible; traces follow the video, not the wall clock."""
    clip = SeekClip(seconds=2.0, fps=15.0, size=64, seed=4, command_period_s=0.5, sensor_hz=30.0)
    paths = write_clip(tmp_path / "clip.mp4", clip)
    source = open_frame_source(CameraConfig(source=str(paths.video), playback="every_frame"))
    media_clock = source.media_clock
    assert isinstance(media_clock, MediaClock)
    text = open_text_source(TextConfig(source="file", path=str(paths.commands)), clock=media_clock)
    sensor = open_sensor_source(SensorConfig(source="file", path=str(paths.sensor), max_age_s=5.0), clock=media_clock)
    aligner = Aligner(text, sensor, AlignConfig(policy="wait_fresh", wait_timeout_s=1.0))
    results = []
    with source, text, sensor:  # type: ignore[union-attr]
        while (frame := source.read()) is not None:
            results.append(aligner.align(frame))
    assert len(results) == 30
    for aligned in results[1:]:
        t_s = aligned.frame.media_t_s
        # text is never waited for: on the frame where the command changes, the replay thread may
        # still be releasing it, so the previous command is allowed there
        # (on a loaded machine it may take the replay thread a few frames' time)
        recent = {clip.command_at(max(0.0, t_s - k / 15)) for k in range(4)}
        assert aligned.text in recent  # type: ignore[operator]
        # the sensor reading is the trace sample at (or just after) this frame's media time
        # 30 Hz sensor, 15 fps video: every frame has the trace sample of its own instant
        assert aligned.skew_ms == pytest.approx(0.0, abs=0.1)  # trace times have 0.1 ms resolution
        assert aligned.sensor == {"distance_cm": clip.distance_at(round(t_s, 4))}  # type: ignore[arg-type]
    assert aligner.fresh_timeouts == 0


def test_media_clock_releases_trace_readings_with_the_frame_and_no_thread(tmp_path: Path) -> None:
    """every_frame playback: the frame's read releases the readings of its instant before the frame
    is returned, so even the never-waiting ``latest`` policy sees exactly them, with no replay thread."""
    clip = SeekClip(seconds=2.0, fps=15.0, size=64, seed=4, command_period_s=0.5, sensor_hz=20.0)
    paths = write_clip(tmp_path / "clip.mp4", clip)
    threads_before = threading.active_count()
    source = open_frame_source(CameraConfig(source=str(paths.video), playback="every_frame"))
    media_clock = source.media_clock
    assert isinstance(media_clock, MediaClock)
    text = open_text_source(TextConfig(source="file", path=str(paths.commands)), clock=media_clock)
    sensor = open_sensor_source(SensorConfig(source="file", path=str(paths.sensor), max_age_s=5.0), clock=media_clock)
    aligner = Aligner(text, sensor, AlignConfig(policy="latest"))
    results = []
    with source, text, sensor:  # type: ignore[union-attr]
        assert threading.active_count() == threads_before
        while (frame := source.read()) is not None:
            results.append(aligner.align(frame))
    assert len(results) == 30
    for aligned in results:
        t_s = aligned.frame.media_t_s
        assert aligned.text == clip.command_at(t_s)
        sample_t_s = max(k / 20 for k in range(41) if k / 20 <= t_s + 5e-4)  # 20 Hz trace, latest at or before
        assert aligned.sensor == {"distance_cm": clip.distance_at(round(sample_t_s, 4))}
        assert aligned.skew_ms == pytest.approx((t_s - sample_t_s) * 1000.0, abs=0.2)
