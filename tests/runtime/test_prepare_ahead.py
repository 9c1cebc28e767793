"""``pipeline.prepare_ahead``: the image input made on the capture thread gives the same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge_sdk.bundle.wrap import wrap_from_spec_file
from edge_sdk.errors import InputError
from edge_sdk.model import Model
from edge_sdk.pipeline import Pipeline
from edge_sdk.pipeline.ahead import PrepareAhead, prepare_ahead_enabled
from edge_sdk.pipeline.config import PipelineConfig
from edge_sdk.pipeline.swap import ModelSwap
from edge_sdk.sources import Frame, open_frame_source

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "zoo"


def _video(path: Path, frames: int = 40) -> Path:
    """640x480 mp4 with a moving square: the letterbox and the box mapping have work to do."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(frames):
        frame = rng.integers(0, 60, (480, 640, 3), dtype=np.uint8)
        cv2.rectangle(frame, (40 + 10 * i, 100), (160 + 10 * i, 220), (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def _detector(tmp_path: Path) -> Path:
    out = tmp_path / "detector.tflite"
    wrap_from_spec_file(ZOO / "detector_postprocess.tflite", out, ZOO / "specs" / "detector_postprocess.yaml")
    return out


def _run(bundle: Path, video: Path, prepare_ahead: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with Model.from_bundle(bundle) as model, Pipeline(
            model, open_frame_source(f"file://{video}", playback="every_frame"),
            config=PipelineConfig(prepare_ahead=prepare_ahead)) as pipeline:
        pipeline.on_result(lambda r: results.append({"frame": r.frame_index, **r.task_result.to_json()}))
        stats = pipeline.run()
    return sorted(results, key=lambda r: r["frame"]), stats


def test_results_with_the_image_made_ahead_equal_the_worker_s_own(tmp_path: Path) -> None:
    bundle, video = _detector(tmp_path), _video(tmp_path / "clip.mp4")
    ahead, stats_ahead = _run(bundle, video, True)
    behind, stats_behind = _run(bundle, video, False)
    assert len(ahead) == len(behind) == 40
    assert ahead == behind  # the same boxes, scores and labels, in the camera frame's coordinates
    assert any(r["count"] for r in ahead)
    # the preprocess stage still reports what preprocessing costs, wherever it ran
    assert stats_ahead["stages"]["preprocess"]["p50_ms"] > 0 and stats_behind["stages"]["preprocess"]["p50_ms"] > 0


def test_a_frame_prepared_by_a_swapped_out_model_is_prepared_again(tmp_path: Path) -> None:
    from edge_sdk.pipeline.ahead import prepare_inputs
    from edge_sdk.pipeline.align import AlignedInputs

    bundle = _detector(tmp_path)
    pixels = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    frame = Frame(pixels=pixels, color_order="BGR", timestamp_s=0.0, index=0, source="test")
    inputs = AlignedInputs(frame=frame, text=None, text_ts=None, sensor=None, sensor_ts=None, skew_ms=None)
    with Model.from_bundle(bundle) as old, Model.from_bundle(bundle) as new:
        swap = ModelSwap(old)
        made = PrepareAhead(swap)(frame)
        assert made.prepared is not None and made.prepared.model is old
        own = new.prepare(image=pixels, color_order="BGR")
        taken, ahead_ms = prepare_inputs(new, made, inputs)
        assert ahead_ms == 0.0  # made again by the new model, not taken from the old one
        assert all(np.array_equal(taken[k], own[k]) for k in own)
        kept, ahead_ms = prepare_inputs(old, made, inputs)
        assert ahead_ms > 0 and all(np.array_equal(kept[k], own[k]) for k in own)


def test_a_frame_the_model_refuses_is_left_for_the_worker_to_report(tmp_path: Path) -> None:
    with Model.from_bundle(_detector(tmp_path)) as model:
        ahead = PrepareAhead(ModelSwap(model))
        empty = Frame(pixels=np.zeros((0, 4, 3), dtype=np.uint8), color_order="BGR", timestamp_s=0.0, index=0,
                      source="test")
        assert ahead(empty).prepared is None and ahead.failed == 1
        with pytest.raises(InputError, match="empty"):
            model.prepare(image=empty.pixels)


def test_prepare_ahead_follows_the_config_and_the_cpus() -> None:
    assert prepare_ahead_enabled(PipelineConfig(prepare_ahead=False)) is False
    assert prepare_ahead_enabled(PipelineConfig(prepare_ahead=True)) is True
    import os

    assert prepare_ahead_enabled(PipelineConfig()) is (len(os.sched_getaffinity(0)) >= 2)
