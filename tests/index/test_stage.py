"""The runtime's index stage: which frames it takes, its drop policy, and a real run that feeds it.

Models come from the zoo (tests/fixtures/zoo, wrapped here): ``two_signatures`` is a CLIP-style
bundle with ``embed_image`` and ``embed_text`` (token ids, so no text queries), ``detector_postprocess``
a detector that a run serves while the index embeds beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.index import Index, IndexConfig, IndexStage
from edge_sdk.pipeline.result import Result
from edge_sdk.sources.frame import Frame
from edge_sdk.tasks.embed import Embedding

pytest.importorskip("ai_edge_litert")
pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "fixtures" / "zoo"
DIM = 8


def wrap(name: str, tmp_path: Path) -> Path:
    from edge_sdk.cli import main

    out = tmp_path / f"{name}_bundle.tflite"
    assert main(["wrap", str(ZOO / f"{name}.tflite"), "--spec", str(ZOO / "specs" / f"{name}.yaml"),
                 "--out", str(out)]) == 0
    return out


def frame_and_result(i: int, frame_ts: float, pixels: np.ndarray | None = None) -> tuple[Frame, Result]:
    rng = np.random.default_rng(i)
    pixels = pixels if pixels is not None else rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    vector = rng.standard_normal(DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    frame = Frame(pixels=pixels, color_order="BGR", timestamp_s=frame_ts - 1000.0, index=i, source="test")
    result = Result(ts=frame_ts, label=None, confidence=float("nan"), scores={}, frame_ts=frame_ts, frame_index=i,
                    text=None, text_ts=None, sensor=None, sensor_ts=None, skew_ms=None, timing_ms={},
                    task_result=Embedding(vector=vector, norm=1.0))
    return frame, result


def stage_for(tmp_path: Path, **options: object) -> IndexStage:
    config = IndexConfig(path=str(tmp_path / "ix"), **options)  # type: ignore[arg-type]
    return IndexStage(config, Index(config.path, dim=DIM, max_frames=config.max_frames), embedder=None)


def test_every_n_and_the_rate_limit_pick_frames_by_frame_time(tmp_path: Path) -> None:
    with stage_for(tmp_path, every_n_frames=2, max_rate_hz=2.0).start() as stage:
        for i in range(40):  # 10 fps of frame time: every 2nd is a candidate, at most 2 a second are kept
            stage.offer(*frame_and_result(i, 1000.0 + i / 10))
        stage.close()
        stats = stage.stats()
    # candidates every 0.2 s; the next one at least 0.5 s after the last kept is 0.6 s later
    assert stats["queued"] == stats["written"] == 7
    assert stats["skipped_rate"] == 13 and stats["dropped"] == 0
    with Index(tmp_path / "ix") as index:
        times = sorted(h.frame_ts for h in index.search(np.ones(DIM), k=100, now_s=1000.0))
    assert times == pytest.approx([1000.0 + 0.6 * i for i in range(7)])


def test_on_change_skips_frames_that_look_the_same(tmp_path: Path) -> None:
    grey, bright = np.full((24, 32, 3), 100, np.uint8), np.full((24, 32, 3), 200, np.uint8)
    with stage_for(tmp_path, on_change=0.1, max_rate_hz=0).start() as stage:
        for i, pixels in enumerate([grey, grey, grey, bright, bright, grey]):
            stage.offer(*frame_and_result(i, 1000.0 + i, pixels))
        stage.close()
        assert stage.stats()["written"] == 3 and stage.stats()["skipped_unchanged"] == 3


def test_a_full_queue_drops_the_oldest_waiting_frame_and_counts_it(tmp_path: Path) -> None:
    stage = stage_for(tmp_path, queue_size=4, max_rate_hz=0)  # the writer is not started: nothing drains
    for i in range(10):
        stage.offer(*frame_and_result(i, 1000.0 + i))
    assert stage.stats()["dropped"] == 6 and stage.stats()["queue"] == 4
    stage.start()
    stage.close()
    assert stage.stats()["written"] == 4
    with Index(tmp_path / "ix") as index:  # the newest four are the ones kept
        assert sorted(h.frame_ts for h in index.search(np.ones(DIM), k=10, now_s=1000.0)) == [1006, 1007, 1008, 1009]


def test_thumbnails_are_small_jpegs_of_the_frame(tmp_path: Path) -> None:
    import cv2

    pixels = np.zeros((120, 160, 3), np.uint8)
    pixels[:, :80] = (0, 0, 255)  # red on the left, in BGR
    with stage_for(tmp_path, thumbnail_px=40, max_rate_hz=0).start() as stage:
        stage.offer(*frame_and_result(0, 1000.0, pixels))
        stage.close()
    with Index(tmp_path / "ix") as index:
        jpeg = index.thumbnail(0)
    assert jpeg is not None
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (30, 40, 3)
    assert image[15, 5, 2] > 200 and image[15, 35, 2] < 50


_RUN = textwrap.dedent("""
    import json, sys
    from edge_sdk.config import parse_config
    from edge_sdk.runtime import Runtime

    config = parse_config(json.loads(sys.argv[1]))
    with Runtime(config) as runtime:
        summary = runtime.run()
    # after close: the writer has drained its queue
    index = runtime.index_stage.stats()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    print(json.dumps({"results": summary["results"], "index": index, "heavy": heavy}))
""")


def run_with_index(config: dict[str, object]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps(config)], capture_output=True, text=True,
                          timeout=180, check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("ingest", ["thread", "process"])
def test_a_detector_run_indexes_frames_with_the_bundles_image_tower_and_never_imports_tensorflow(
        tmp_path: Path, ingest: str) -> None:
    dual, detector = wrap("two_signatures", tmp_path), wrap("detector_postprocess", tmp_path)
    config = {"device": "idx", "model": {"path": str(detector)},
              "camera": {"source": "seek://?seconds=3&fps=10&size=64", "playback": "every_frame"},
              "embedded_broker": {"enabled": False},
              "index": {"path": str(tmp_path / "ix"), "bundle": str(dual), "max_rate_hz": 5, "ingest": ingest}}
    report = run_with_index(config)
    assert report["heavy"] == []
    stats = report["index"]
    assert report["results"] == 30 and stats["embeds_here"] is True and stats["ingest"] == ingest  # type: ignore[index]
    assert stats["written"] == 15 and stats["failed"] == 0 and stats["dropped"] == 0, stats  # type: ignore[index]
    from edge_sdk.model import Model

    with Index.open(tmp_path / "ix") as index, Model.from_bundle(dual, signature="embed_image") as image_tower:
        assert len(index) == 15 and index.dim == 32
        hits = index.search(np.ones(32), k=15)
        jpeg = index.thumbnail(hits[0].frame_id)
        assert jpeg is not None
        import cv2

        # the stored vector is the image tower's embedding of the frame (checked through its thumbnail's twin)
        thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        vector = image_tower.predict(image=thumb).result.vector  # type: ignore[union-attr]
        assert index.search(vector, k=1)[0].score > 0.95


def test_a_run_serving_the_image_tower_indexes_its_own_embeddings_and_reopens_on_restart(tmp_path: Path) -> None:
    dual = wrap("two_signatures", tmp_path)
    config = {"device": "idx", "model": {"path": str(dual), "signature": "embed_image"},
              "camera": {"source": "seek://?seconds=2&fps=10&size=64", "playback": "every_frame"},
              "embedded_broker": {"enabled": False}, "index": {"path": str(tmp_path / "ix"), "max_rate_hz": 0}}
    first = run_with_index(config)
    assert first["index"]["embeds_here"] is False and first["index"]["written"] == 20  # type: ignore[index]
    second = run_with_index(config)
    assert second["index"]["index"]["frames"] == 40  # type: ignore[index]
    with Index.open(tmp_path / "ix") as index:
        assert len(index) == 40 and index.stats()["dropped_at_open"] == 0
