"""Results bound for the sinks have their own path: a slow user callback cannot lose them (issue 9)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from edge_sdk import FusionModel, JSONLinesSink, Pipeline, PipelineConfig, SensorSlot, TextSlot, open_frame_source
from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.runtime import default_bundle_path

FPS = 30.0
SECONDS = 3.0
CALLBACK_S = 0.05  # 20 results/s: slower than the 30 fps the file plays at


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_clip(tmp_path_factory.mktemp("clip") / "seek.mp4", SeekClip(seconds=SECONDS, fps=FPS, size=96, seed=5))


@pytest.fixture
def model() -> Any:
    with FusionModel.from_bundle(default_bundle_path()) as loaded:
        yield loaded


def test_a_slow_callback_on_a_live_rate_source_loses_no_result_to_the_sink(model, clip) -> None:  # type: ignore[no-untyped-def]
    text, sensor = TextSlot("text"), SensorSlot("sensor", max_age_s=None)  # a fixed reading
    text.set("find the red circle")
    sensor.update({"distance_cm": 90.0})
    out = io.StringIO()
    seen: list[int] = []

    def slow(result: Any) -> None:
        time.sleep(CALLBACK_S)
        seen.append(result.frame_index)

    # played at the file's real rate (not every_frame): the callback path must drop, the sink path must not
    with Pipeline(model, open_frame_source(f"file://{clip.video}"), text=text, sensor=sensor,
                  config=PipelineConfig(dispatch_queue=2), sinks=[JSONLinesSink("pi-test", out).start()]) as pipeline:
        pipeline.on_result(slow, name="slow")
        stats = pipeline.run()
    results = [line for line in map(json.loads, out.getvalue().splitlines()) if line["schema"] == "edge_sdk.result/2"]
    assert stats["results"] > 0
    assert len(results) == stats["published"] == stats["results"]
    assert [r["seq"] for r in results] == list(range(1, stats["results"] + 1))
    assert stats["drops"]["sinks"] == 0
    assert stats["drops"]["callbacks"] > 0
    assert len(seen) + stats["drops"]["callbacks"] == stats["results"]
    assert stats["drops"]["dispatch"] == stats["drops"]["callbacks"]


def _dispatcher_with_batches(every_frame: bool = False) -> tuple[Any, list[int]]:
    from edge_sdk.pipeline.dispatcher import Dispatcher
    from edge_sdk.pipeline.stats import StageTimes

    batches: list[int] = []
    dispatcher = Dispatcher(256, StageTimes(("publish",)), lambda result: {"i": result}, block_when_full=every_frame)
    dispatcher.add_publisher(lambda payloads: batches.append(len(payloads)))
    return dispatcher.start(), batches


def test_under_load_the_sink_path_hands_results_over_in_batches_and_loses_none() -> None:
    dispatcher, batches = _dispatcher_with_batches()
    for i in range(2000):  # a replay at full speed: results far closer than the linger
        dispatcher.submit(i, publish=True)  # type: ignore[arg-type]
        if i % 50 == 0:
            time.sleep(0.001)
    dispatcher.close()
    assert sum(batches) == dispatcher.published == 2000
    assert dispatcher.sink_lingered > 0 and len(batches) < 200, batches[:20]


def test_at_camera_rates_the_sink_path_never_lingers() -> None:
    dispatcher, batches = _dispatcher_with_batches()
    for i in range(15):  # 100 results/s: 10 ms apart, more than twice the linger
        dispatcher.submit(i, publish=True)  # type: ignore[arg-type]
        time.sleep(0.01)
    dispatcher.close()
    assert dispatcher.sink_lingered == 0 and batches == [1] * 15


def test_a_replay_lingers_longer_than_a_camera_and_hands_over_bigger_batches() -> None:
    """Results 1 ms apart: a live source's lane (2 ms linger) and an every_frame replay's (8 ms)."""
    sizes = {}
    for every_frame in (False, True):
        dispatcher, batches = _dispatcher_with_batches(every_frame)
        for i in range(200):
            dispatcher.submit(i, publish=True)  # type: ignore[arg-type]
            time.sleep(0.001)
        dispatcher.close()
        assert sum(batches) == dispatcher.published == 200
        sizes[every_frame] = len(batches)
    assert sizes[True] * 2 < sizes[False], sizes


def test_close_during_a_linger_delivers_what_waited() -> None:
    dispatcher, batches = _dispatcher_with_batches()
    for i in range(3):
        dispatcher.submit(i, publish=True)  # type: ignore[arg-type]
    dispatcher.close()
    assert sum(batches) == dispatcher.published == 3
