"""Replayed traces start with the first frame, not when the runtime was built (issue 15).

A stream that takes seconds to open (RTSP, MPEG-TS over TCP) used to leave the sensor and text
traces running from before the run: the first result used the trace's value at t = 2.3 s. Here a
real video decoded by OpenCV sits behind a source scheme (``slow://``) that answers 2 s late, the
way such a stream does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import Runtime, parse_config
from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.sources import factory
from edge_sdk.sources.base import FrameSource
from edge_sdk.sources.config import CameraConfig
from edge_sdk.sources.frame import Frame

OPEN_DELAY_S = 2.0


class SlowOpening(FrameSource):
    """A real file source whose first frame comes ``delay_s`` late."""

    def __init__(self, inner: FrameSource, delay_s: float) -> None:
        super().__init__(inner.name, inner.media_clock, inner.mode)
        self._inner, self._delay_s, self._opened = inner, delay_s, False

    def _read(self) -> Frame | None:
        if not self._opened:
            self._stop.wait(self._delay_s)
            self._opened = True
        return self._inner.read()

    def _release(self) -> None:
        self._inner.close()


class _Entry:
    """What ``importlib.metadata`` gives for an ``edge_sdk.sources`` entry point: ``load()`` -> the opener."""

    @staticmethod
    def load() -> Any:
        def open_slow(rest: str, config: CameraConfig, name: str, media_clock: Any) -> FrameSource:
            inner = factory.open_frame_source(dataclasses.replace(config, source=f"file://{rest}"))
            return SlowOpening(inner, OPEN_DELAY_S)

        return open_slow


@pytest.fixture
def slow_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "plugin_schemes", lambda: {"slow": _Entry})


def test_traces_start_with_the_first_frame_of_a_slow_stream(slow_scheme: None, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "seek.mp4", SeekClip(seconds=3.0, fps=15.0, size=64, seed=2))
    sensor = tmp_path / "run.sensor.jsonl"  # 10 cm at t = 0, then 1 cm more every 0.1 s
    sensor.write_text("".join(json.dumps({"t_s": round(i * 0.1, 1), "distance_cm": 10.0 + i}) + "\n"
                              for i in range(60)))
    commands = tmp_path / "run.commands.jsonl"
    commands.write_text(json.dumps({"t_s": 0.0, "text": "find the red circle"}) + "\n"
                        + json.dumps({"t_s": 1.0, "text": "find the blue square"}) + "\n")
    config = parse_config({
        "device": "pi-slow",
        "camera": {"source": f"slow://{clip.video}"},
        "text": {"source": "file", "path": str(commands)},
        "sensor": {"source": "file", "path": str(sensor)},
        "embedded_broker": {"enabled": False},
        "pipeline": {"max_frames": 5},
    })
    results: list[Any] = []
    with Runtime(config, on_result=results.append) as runtime:
        summary = runtime.run()
    assert summary["results"] == 5
    first = results[0]
    assert first.sensor == {"distance_cm": 10.0}  # the trace at t = 0, not at t = 2 s
    assert first.text == "find the red circle"
    assert first.skew_ms is not None and 0.0 <= first.skew_ms < 100.0
    assert summary["align"]["sensor_missing"] == 0
    assert summary["align"]["text_missing"] == 0
    assert summary["drops"]["incomplete_inputs"] == 0
    assert [r.sensor["distance_cm"] for r in results] == sorted(r.sensor["distance_cm"] for r in results)
    assert results[-1].sensor["distance_cm"] <= 15.0  # five frames at 15 fps: well within the first half second
