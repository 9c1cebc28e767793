"""A run that skips every frame says why while it runs (issue 14): which input, why, what to check."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import FusionModel, Pipeline, TextSlot, open_frame_source
from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.runtime import default_bundle_path
from edge_sdk.sources.config import SensorConfig
from edge_sdk.sources.sensor import SensorSlot, open_sensor_source

SECONDS, FPS = 4.0, 15.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_clip(tmp_path_factory.mktemp("clip") / "seek.mp4", SeekClip(seconds=SECONDS, fps=FPS, size=96, seed=3))


def _run(clip: Any, sensor_for: Any) -> dict[str, Any]:
    text = TextSlot("text")
    text.set("find the red circle")
    frames = open_frame_source(f"file://{clip.video}", playback="every_frame")
    sensor = sensor_for(frames.media_clock)
    with FusionModel.from_bundle(default_bundle_path()) as model, \
            Pipeline(model, frames, text=text, sensor=sensor) as pipeline:
        stats = pipeline.run()
    sensor.close()
    return stats


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge_sdk.pipeline" and r.levelno == logging.WARNING]


def test_a_sensor_that_never_sends_is_named_while_the_run_skips(clip: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    stats = _run(clip, lambda clock: SensorSlot("sensor:mqtt"))
    assert stats["results"] == 0
    warnings = _warnings(caplog)
    assert warnings, "no warning while every frame was skipped"
    assert "as incomplete" in warnings[0] and "without sensor (sensor:mqtt: no reading yet" in warnings[0]


def test_a_plain_sensor_file_under_every_frame_says_to_give_it_t_s(clip: Any, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The known case: readings stamped when read, frames on the video's clock; results=10, incomplete=785."""
    caplog.set_level(logging.WARNING)
    plain = tmp_path / "distance.jsonl"
    plain.write_text("".join(json.dumps({"distance_cm": 80.0 + i}) + "\n" for i in range(10)))
    stats = _run(clip, lambda clock: open_sensor_source(SensorConfig(source="file", path=str(plain)), clock))
    assert stats["drops"]["incomplete_inputs"] > 0
    warnings = _warnings(caplog)
    assert warnings
    assert "over its max age of 1 s" in warnings[0] and "sensor.max_age_s" in warnings[0]
    assert f"{plain} has no t_s" in warnings[0] and "replayed on the video's clock" in warnings[0]
    # what it says to do works: the same readings with t_s are a trace on the video's clock
    trace = tmp_path / "distance.trace.jsonl"
    trace.write_text("".join(json.dumps({"t_s": i * 0.5, "distance_cm": 80.0 + i}) + "\n"
                             for i in range(int(SECONDS * 2))))
    stats = _run(clip, lambda clock: open_sensor_source(SensorConfig(source="file", path=str(trace)), clock))
    assert stats["drops"]["incomplete_inputs"] == 0
    assert stats["results"] == int(SECONDS * FPS)


def test_a_prompt_that_comes_a_moment_late_says_nothing(clip: Any, caplog: pytest.LogCaptureFixture) -> None:
    from edge_sdk.pipeline.align import Aligner
    from edge_sdk.pipeline.incomplete import IncompleteWarner
    from edge_sdk.sources.frame import Frame

    caplog.set_level(logging.WARNING)
    aligner = Aligner(TextSlot("text:mqtt"), None)
    warner = IncompleteWarner(aligner, needs_text=True, needs_sensor=False, grace_s=60.0)
    source = open_frame_source(f"file://{clip.video}")
    frame: Frame | None = source.read()
    source.close()
    assert frame is not None
    for _ in range(5):
        aligner.align(frame)
        warner.skipped(frame, text=True, sensor=False)
    assert warner.warnings == 0 and not _warnings(caplog)
