"""The Python API as the README shows it (issue 14): Ctrl-C ends it cleanly, stdout is data, one sensor default."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.clock import now_s
from edge_sdk.sources.config import SensorConfig
from edge_sdk.sources.sensor import SensorSlot

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_layout import _readme_python_example  # the README's own extraction


@pytest.mark.slow
def test_ctrl_c_ends_the_readme_example_cleanly(tmp_path: Path) -> None:
    from edge_sdk.demo.seek.video import SeekClip, write_clip

    clip = write_clip(tmp_path / "clip.mp4", SeekClip(seconds=60.0, fps=10.0, size=96, seed=5))
    code = _readme_python_example().replace('"camera://0"', repr(f"file://{clip.video}"))
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the sink flushes each line: the run is under way
        if '"edge_sdk.result/2"' not in first:
            process.kill()  # before reading stderr: a live process would keep it open
            raise AssertionError(f"{first!r}: {process.communicate(timeout=10)[1][-2000:]}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    lines = [json.loads(line) for line in (first + out).splitlines()]  # stdout: nothing but the data
    assert lines[-1]["schema"] == "edge_sdk.stats/1"  # the final stats: the sinks were closed in order
    assert "left" in err or "right" in err or "center" in err or "absent" in err or "blocked" in err


def test_the_api_and_the_config_share_one_sensor_max_age_applied() -> None:
    slot = SensorSlot("sensor")
    assert slot.max_age_s == SensorConfig(source="stdin").max_age_s == 1.0
    slot.update({"distance_cm": 80.0}, now_s() - 1.5)
    assert slot.latest() is None  # 1.5 s old: missing, not used
    slot.update({"distance_cm": 81.0})
    assert slot.latest() is not None
    fixed = SensorSlot("sensor", max_age_s=None)
    fixed.update({"distance_cm": 80.0}, now_s() - 9.9)
    assert fixed.latest() is not None


def test_pipeline_run_restores_the_signal_handlers(tmp_path: Path) -> None:
    from edge_sdk import FusionModel, Pipeline, PipelineConfig, TextSlot, open_frame_source
    from edge_sdk.runtime import default_bundle_path

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    text, sensor = TextSlot("text"), SensorSlot("sensor", max_age_s=None)
    text.set("find the red circle")
    sensor.update({"distance_cm": 80.0})
    seen: list[object] = []
    with FusionModel.from_bundle(default_bundle_path()) as model, Pipeline(
            model, open_frame_source("seek://?seconds=2&fps=10&size=64", playback="every_frame"), text=text,
            sensor=sensor, config=PipelineConfig(max_frames=3)) as pipeline:
        # on the worker, inside run(): a result callback may run on the callback thread after run() returned
        pipeline.add_frame_observer(lambda frame, result: seen.append(signal.getsignal(signal.SIGINT)))
        stats = pipeline.run()
    assert stats["results"] == 3
    assert seen and seen[0] not in before  # installed while it ran
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
