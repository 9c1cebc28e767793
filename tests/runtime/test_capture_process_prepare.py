"""``camera.capture: process`` with ``pipeline.prepare_ahead``: the image input made in the capture
process, frames handed over in batches.

Real parts only: videos written by OpenCV in the test's directory, the real child process and its
shared-memory ring, the shipped seek bundle and a zoo model wrapped from its documented spec.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge_sdk.cli import main
from edge_sdk.model import FusionModel
from edge_sdk.pipeline import Pipeline, PipelineConfig
from edge_sdk.pipeline.capture_process import BATCH_FRAMES, ProcessFrameSource
from edge_sdk.runtime import default_bundle_path
from edge_sdk.sources import CameraConfig, Frame, open_frame_source
from edge_sdk.sources.sensor import SensorSlot
from edge_sdk.sources.text import TextSlot

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "fixtures" / "zoo"
FPS = 15.0
FRAMES = 40


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture-prepare") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (160, 120))
    rng = np.random.default_rng(11)
    for k in range(FRAMES):
        image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        image[:, (k * 4) % 160:(k * 4) % 160 + 10] = (255, 0, 0)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def seek() -> FusionModel:
    return FusionModel.from_bundle(default_bundle_path())


@pytest.fixture(scope="module")
def float_model(tmp_path_factory: pytest.TempPathFactory) -> FusionModel:
    """A float32 input normalised to -1..1: a larger tensor than seek's uint8 one, made through the table."""
    out = tmp_path_factory.mktemp("zoo") / "classifier.tflite"
    assert main(["wrap", str(ZOO / "classifier_with_metadata.tflite"), "--spec",
                 str(ZOO / "specs" / "classifier_with_metadata.yaml"), "--out", str(out)]) == 0
    return FusionModel.from_bundle(out)


def _read_all(source: ProcessFrameSource) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def _assert_made_as_the_model_would(frames: list[Frame]) -> None:
    for frame in frames:
        assert frame.prepared is not None
        want = frame.prepared.model.prepare_image(frame.pixels, frame.color_order)
        got = frame.prepared
        assert (got.tensor.dtype, got.tensor.shape) == (want.tensor.dtype, want.tensor.shape)
        assert got.tensor.tobytes() == want.tensor.tobytes(), frame.index
        assert dataclasses.astuple(got.to_source) == dataclasses.astuple(want.to_source) and got.ms > 0
        assert got.tensor.flags.owndata  # copied out of the ring: the slot goes back at once


def test_the_child_makes_the_image_input_the_model_would_and_follows_a_swap(clip: Path, seek: FusionModel,
                                                                          float_model: FusionModel) -> None:
    config = CameraConfig(source=f"file://{clip}", playback="every_frame", capture="process")
    with ProcessFrameSource(config) as source:
        source.prepare_with(seek)
        first = [source.read() for _ in range(10)]
        source.prepare_with(float_model)  # a larger input: the child asks for a ring of larger slots
        rest = _read_all(source)
    frames = [f for f in first if f is not None] + rest
    assert [f.index for f in frames] == list(range(FRAMES))
    _assert_made_as_the_model_would(frames)
    assert {f.prepared.model for f in first if f is not None and f.prepared} == {seek}  # type: ignore[union-attr]
    models = [f.prepared.model for f in rest]  # type: ignore[union-attr]
    # frames decoded before the swap reached the child carry seek's input; every later one the new model's
    assert models[-1] is float_model and models == sorted(models, key=lambda m: m is float_model)


def test_every_frame_playback_hands_frames_over_in_batches_a_camera_one_at_a_time(clip: Path,
                                                                                seek: FusionModel) -> None:
    config = CameraConfig(source=f"file://{clip}", playback="every_frame", capture="process")
    with ProcessFrameSource(config) as source:
        assert source.hand_off_frames == BATCH_FRAMES
        source.prepare_with(seek)
        frames = _read_all(source)
        batched = source.hand_overs
    assert len(frames) == FRAMES and batched <= FRAMES // (BATCH_FRAMES // 2)
    with ProcessFrameSource(CameraConfig(source=f"file://{clip}", capture="process")) as source:  # paced, realtime
        assert source.hand_off_frames == 1
        paced = _read_all(source)
        assert source.hand_overs == len(paced) >= FRAMES - 2


def test_without_prepare_with_frames_come_bare_and_a_bad_maker_frame_is_left_to_the_runtime(
        clip: Path, seek: FusionModel) -> None:
    config = CameraConfig(source=f"file://{clip}", playback="every_frame", capture="process")
    with ProcessFrameSource(config) as source:
        bare = [source.read() for _ in range(5)]
        source.prepare_with(seek)
        source.prepare_with(None)  # stopped again: nothing made from the next frames on
        rest = _read_all(source)
    assert all(f is not None and f.prepared is None for f in bare)
    assert rest[-1].prepared is None


def test_a_pipeline_over_process_capture_gives_the_thread_paths_results(clip: Path, seek: FusionModel) -> None:
    def results(capture: str) -> list[tuple[str | None, float]]:
        # the inputs first: the capture process reads its first frame as soon as it opens, and a frame older
        # than the command would wait for one (incomplete inputs), as a camera's would
        text, sensor = TextSlot("text"), SensorSlot("sensor", max_age_s=None)
        text.set("find the red circle")
        sensor.update({"distance_cm": 80.0})
        config = CameraConfig(source=f"file://{clip}", playback="every_frame", capture=capture)  # type: ignore[arg-type]
        source = ProcessFrameSource(config) if capture == "process" else open_frame_source(config)
        got: list[tuple[str | None, float]] = []
        pipeline = Pipeline(seek, source, text=text, sensor=sensor,
                            config=PipelineConfig(prepare_ahead=True, stats_interval_s=0))
        pipeline.on_result(lambda r: got.append((r.label, r.confidence)))
        stats = pipeline.run()
        assert stats["results"] == FRAMES
        return got

    assert results("process") == results("thread")
