"""The pipeline on real parts: the shipped bundle, seek videos decoded by OpenCV, a real broker."""

from __future__ import annotations

import io
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge_sdk import (
    FusionModel,
    JSONLinesSink,
    Pipeline,
    PipelineConfig,
    PipelineError,
    Runtime,
    SensorSlot,
    TextSlot,
    open_frame_source,
    parse_config,
)
from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.runtime import default_bundle_path
from edge_sdk.sources.config import CameraConfig

FPS = 15.0
SECONDS = 3.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_clip(tmp_path_factory.mktemp("clip") / "seek.mp4", SeekClip(seconds=SECONDS, fps=FPS, size=96, seed=3))


@pytest.fixture
def model() -> Any:
    with FusionModel.from_bundle(default_bundle_path()) as loaded:
        yield loaded


def _inputs() -> tuple[TextSlot, SensorSlot]:
    text, sensor = TextSlot("text"), SensorSlot("sensor", max_age_s=None)  # a fixed reading, for the whole clip
    text.set("find the red circle")
    sensor.update({"distance_cm": 90.0})
    return text, sensor


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("playback", "policy", "slot", "has_media_clock"), [
    ("realtime", "drop_oldest", "LatestSlot", False),
    ("every_frame", "block", "BlockingSlot", True),
])
def test_one_running_mode_sets_every_stage(model, clip, playback, policy, slot, has_media_clock) -> None:  # type: ignore[no-untyped-def]
    """camera.playback is the only switch: pacing, the capture hand-off, the callback queue and the clock follow it."""
    text, sensor = _inputs()
    source = open_frame_source(f"file://{clip.video}", playback=playback)
    with Pipeline(model, source, text=text, sensor=sensor) as pipeline:
        assert source.mode.value == playback
        assert pipeline.stats()["queues"]["dispatch_policy"] == policy
        assert type(pipeline._capture.slot).__name__ == slot
        assert (source.media_clock is not None) is has_media_clock
        assert pipeline.state.value == "created"


def test_every_frame_playback_gives_one_valid_result_per_frame(model, clip, result_validator) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    out = io.StringIO()
    with Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=sensor,
                  sinks=[JSONLinesSink("pi-test", out).start()]) as pipeline:
        stats = pipeline.run()
    results = [r for r in _lines(out) if r["schema"] == "edge_sdk.result/2"]
    assert stats["results"] == len(results) == int(SECONDS * FPS)
    assert stats["drops"]["frames"] == 0
    for payload in results:
        result_validator.validate(payload)
    assert [r["seq"] for r in results] == list(range(1, len(results) + 1))
    first = results[0]
    assert first["inputs"]["text"] == "find the red circle"
    assert first["inputs"]["sensor"] == {"distance_cm": 90.0}
    assert set(first["timing_ms"]) >= {"capture", "preprocess", "invoke", "post"}
    for stage in ("capture", "preprocess", "invoke", "post", "publish"):
        assert stats["stages"][stage]["count"] > 0


def test_realtime_playback_paces_to_the_file_rate(model, clip) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    started = time.monotonic()
    with Pipeline(model, open_frame_source(f"file://{clip.video}"), text=text, sensor=sensor) as pipeline:
        stats = pipeline.run()
    elapsed_s = time.monotonic() - started
    assert elapsed_s > SECONDS * 0.8  # paced like a camera, not as fast as possible
    assert 0 < stats["results"] <= int(SECONDS * FPS)


def test_traces_drive_text_and_sensor_and_skew_is_reported(model, clip) -> None:  # type: ignore[no-untyped-def]
    config = parse_config({
        "device": "pi-test",
        "model": {"path": str(default_bundle_path())},
        "camera": {"source": f"file://{clip.video}", "playback": "every_frame"},
        "text": {"source": "file", "path": str(clip.commands)},
        "sensor": {"source": "file", "path": str(clip.sensor)},
        "align": {"policy": "wait_fresh"},
        "embedded_broker": {"enabled": False},
    })
    seen: list[Any] = []
    with Runtime(config, on_result=seen.append) as runtime:
        stats = runtime.run()
    # every frame is accounted for; the very first may find no reading yet on a loaded machine
    assert stats["results"] + stats["drops"]["incomplete_inputs"] == int(SECONDS * FPS)
    assert stats["results"] >= int(SECONDS * FPS) - 2
    truth = [json.loads(line) for line in clip.truth.read_text().splitlines()]
    by_frame = {r.frame_index: r for r in seen}
    trace = {round(r["t_s"], 3): r["distance_cm"] for r in map(json.loads, clip.sensor.read_text().splitlines())}
    for record in truth:
        result = by_frame.get(record["frame"])
        if result is None:
            continue
        # the 20 Hz sensor sample nearest in time to the 15 fps frame, replayed on the video's clock
        assert abs(result.skew_ms) <= 50.0 + 1.0
        sample_t_s = round(record["t_s"] - result.skew_ms / 1000.0, 3)
        assert result.sensor == {"distance_cm": trace[round(round(sample_t_s * 20) / 20, 3)]}


def test_a_failing_sink_stops_the_run_with_its_error(model, clip) -> None:  # type: ignore[no-untyped-def]
    class BrokenSink:
        def publish_result(self, result: Any) -> int:
            raise OSError("disk full")

        def publish_stats(self, stats: Any) -> bool:
            return False

        def close(self) -> None:
            pass

    text, sensor = _inputs()
    with (Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=sensor,
                   sinks=[BrokenSink()]) as pipeline,
          pytest.raises(PipelineError, match="pipeline stopped: disk full")):
        pipeline.run()


def test_callback_errors_are_counted_and_the_stream_goes_on(model, clip) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    with Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=sensor) as pipeline:
        pipeline.on_result(lambda result: 1 / 0, name="broken")
        stats = pipeline.run()
    assert stats["results"] == int(SECONDS * FPS)
    assert stats["callback_errors"] == stats["results"]


def test_missing_sensor_frames_are_skipped_and_counted(model, clip) -> None:  # type: ignore[no-untyped-def]
    text = TextSlot("text")
    text.set("find the red circle")
    with Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=SensorSlot("sensor")) as pipeline:
        stats = pipeline.run()
    assert stats["results"] == 0
    assert stats["drops"]["incomplete_inputs"] == int(SECONDS * FPS)


def test_publish_on_change_sends_fewer_messages(model, clip) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    out = io.StringIO()
    with Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=sensor,
                  config=PipelineConfig(publish="change", change_confidence_delta=1.0),
                  sinks=[JSONLinesSink("pi-test", out).start()]) as pipeline:
        stats = pipeline.run()
    results = [r for r in _lines(out) if r["schema"] == "edge_sdk.result/2"]
    assert 1 <= len(results) == stats["published"] < stats["results"]
    labels = [r["result"]["label"] for r in results]
    assert all(a != b for a, b in itertools.pairwise(labels))


def test_stop_from_another_thread_ends_a_looping_source(model, clip) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    source = open_frame_source({"source": f"file://{clip.video}", "loop": True})
    with Pipeline(model, source, text=text, sensor=sensor) as pipeline:
        threading.Timer(1.0, pipeline.stop).start()
        stats = pipeline.run()
    assert stats["state"] == "stopped"
    assert stats["results"] > 0


@pytest.mark.broker
def test_results_reach_a_real_broker_and_validate(model, clip, broker, recorder_for, mqtt_config,
                                                  result_validator) -> None:  # type: ignore[no-untyped-def]
    from edge_sdk import MQTTPublisher

    recorder = recorder_for(broker, ["edge_sdk/pi-test/#"])
    text, sensor = _inputs()
    publisher = MQTTPublisher(mqtt_config(broker)).start()
    publisher.wait_connected(5.0)
    with Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), text=text, sensor=sensor,
                  sinks=[publisher]) as pipeline:
        stats = pipeline.run()
    assert recorder.wait_for(lambda msgs: len([m for m in msgs if m.topic.endswith("/events")]) >= stats["results"], 10.0)
    events = [m.json() for m in recorder.messages if m.topic.endswith("/events")]
    assert sorted(e["seq"] for e in events) == list(range(1, stats["results"] + 1))
    for payload in events:
        result_validator.validate(payload)
    assert recorder.wait_for(lambda msgs: any(m.topic.endswith("/available") and m.payload == b"stopped" for m in msgs), 5.0)


def test_cli_run_exits_cleanly_on_sigterm(tmp_path: Path, clip) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "device.yaml"
    config.write_text(
        f"device: sig-test\n"
        f"camera: {{source: 'file://{clip.video}', loop: true}}\n"
        f"text: {{source: fixed, prompt: find the blue square}}\n"
        f"sensor: {{source: file, path: '{clip.sensor}', max_age_s: null}}\n"
        f"embedded_broker: {{enabled: false}}\n"
        f"output: {{stdout_jsonl: true}}\n"
    )
    process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # a result arrived: the run is up
        assert json.loads(first)["device"] == "sig-test"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "edge-sdk run: results=" in err


def test_stats_are_published_while_running(model, clip, stats_validator) -> None:  # type: ignore[no-untyped-def]
    text, sensor = _inputs()
    out = io.StringIO()
    with Pipeline(model, open_frame_source(f"file://{clip.video}"), text=text, sensor=sensor,
                  config=PipelineConfig(stats_interval_s=0.5), sinks=[JSONLinesSink("pi-test", out).start()]) as pipeline:
        pipeline.run()
    stats = [r for r in _lines(out) if r["schema"] == "edge_sdk.stats/1"]
    assert len(stats) >= 3  # periodic ones during the 3 s clip, plus the final one
    for payload in stats:
        stats_validator.validate(payload)
    assert stats[-1]["results"] > 0 and "invoke" in stats[-1]["stages"]


def test_every_frame_is_accounted_for_when_realtime_pacing_skips(model, clip) -> None:  # type: ignore[no-untyped-def]
    """Paced at a rate decoding cannot keep (100000 fps): the skipped frames are counted, and the four add up."""
    text, sensor = _inputs()
    source = open_frame_source(CameraConfig(source=f"file://{clip.video}", fps=100000.0))
    with Pipeline(model, source, text=text, sensor=sensor) as pipeline:
        stats = pipeline.run()
    capture, drops = stats["capture"], stats["drops"]
    assert capture["frames_skipped"] > 0 and drops["paced"] == capture["frames_skipped"]
    assert capture["frames_read"] + capture["frames_skipped"] == int(SECONDS * FPS)
    assert stats["results"] + drops["frames"] + drops["incomplete_inputs"] == capture["frames_read"]



def test_every_frame_is_accounted_for_under_max_fps(model, clip) -> None:  # type: ignore[no-untyped-def]
    """Frames passed over to stay under pipeline.max_fps were read and then in no count (issue 15)."""
    text, sensor = _inputs()
    with Pipeline(model, open_frame_source(f"file://{clip.video}"), text=text, sensor=sensor,
                  config=PipelineConfig(max_fps=5.0)) as pipeline:
        stats = pipeline.run()
    capture, drops = stats["capture"], stats["drops"]
    assert drops["max_fps"] > 0
    assert capture["frames_read"] + capture["frames_skipped"] == int(SECONDS * FPS)
    assert (stats["results"] + drops["frames"] + drops["incomplete_inputs"] + drops["max_fps"]
            + stats["queues"]["frames"]) == capture["frames_read"]
