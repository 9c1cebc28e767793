"""On the device, end to end: a seek video indexed by ``edge-sdk run`` with a tiny dual encoder, the
runtime restarted on the same index, queried over a real Mosquitto and checked against the video's truth.

The dual encoder is trained here by the host toolchain (converters.retrieval, about a minute) and
exported as one int8 bundle with ``embed_image`` and ``embed_text``. Run 1 plays the clip frame by
frame and indexes every frame; run 2 is a fresh ``edge-sdk run`` process on the same config (now
live-paced and looping, so it stays up) that answers ``cmd/search``. Ground truth: the clip's
scene at each frame (edge_sdk.demo.seek.captions), by frame time from run 1's published results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from edge_sdk.cli import main
from edge_sdk.demo.seek.captions import ObjectQuery, Query, matches, object_facts
from edge_sdk.demo.seek.video import SeekClip
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

pytestmark = [pytest.mark.slow, pytest.mark.broker]
pytest.importorskip("tensorflow")  # training the tiny bundle needs the host toolchain; the runs do not
pytest.importorskip("ai_edge_litert")

ROOT = Path(__file__).resolve().parents[2]
DEVICE, PREFIX = "pi-index", "edge_sdk"
BASE = f"{PREFIX}/{DEVICE}"
CLIP = {"seconds": 40.0, "fps": 3.0, "size": 96, "seed": 3}
# Measured with this bundle (1,500 scenes, 30 epochs, seed 0) on this clip: precision@5 0.70 and a
# matching frame in the top 5 for 5 of 6 zone queries; after the trainer gained dropout and weight
# decay, 0.57 and 4 of 6; since captioned scenes keep radii clear of the small/large cut (issue 11),
# 0.73 and 5 of 6. Five frames picked at random give about 0.33 (computed below as `chance`). The
# floors are the last measurement minus a margin as wide as the trainer change moved it (0.18, one query).
MIN_PRECISION_AT_5 = 0.55
MIN_OVER_CHANCE = 0.2
MIN_TOP5_HIT_SHARE = 0.6  # 4 of 6
RESULT_SCHEMA = json.loads(resources.files("edge_sdk").joinpath("schemas", "search-result-1.json").read_text())


@pytest.fixture
def bundle(retrieval_bundle: Path) -> Path:
    return retrieval_bundle


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _config(tmp_path: Path, broker: MosquittoBroker, bundle: Path, clip: Path, *, live: bool) -> Path:
    camera: dict[str, Any] = {"source": f"file://{clip}", "playback": "realtime" if live else "every_frame"}
    index: dict[str, Any] = {"path": str(tmp_path / "index"), "max_rate_hz": 0, "max_frames": 5000}
    if live:
        camera["loop"] = True
        index["every_n_frames"] = 1_000_000  # the restarted run adds its first frame only: the rest is run 1's
    config = {"device": DEVICE, "model": {"path": str(bundle), "signature": "embed_image"}, "camera": camera,
              "index": index, "mqtt": {"host": broker.host, "port": broker.port}, "output": {"snapshot_hz": 0}}
    path = tmp_path / ("live.yaml" if live else "replay.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def _run_cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _zone_queries(scenes: dict[int, Any]) -> list[Query]:
    """'a red circle on the left' for each shape and zone it visits, when that is not (nearly) every frame."""
    queries = {Query((ObjectQuery(color=f.color, shape=f.shape, zone=f.zone),))
               for scene in scenes.values() for f in object_facts(scene)}
    return [q for q in sorted(queries, key=lambda q: q.text)
            if sum(matches(q, s) for s in scenes.values()) <= 0.8 * len(scenes)]


def test_frames_indexed_by_run_survive_a_restart_and_are_found_by_text_over_mqtt(
        tmp_path: Path, broker: MosquittoBroker, bundle: Path) -> None:
    clip_path = tmp_path / "clip.mp4"
    assert main(["seek-clip", str(clip_path), *(f"--{k}={v}" for k, v in CLIP.items())]) == 0
    clip = SeekClip(**CLIP)  # type: ignore[arg-type]
    with MQTTRecorder(broker.host, broker.port, [f"{BASE}/#"]) as recorder:
        first = _run_cli("run", "--config", str(_config(tmp_path, broker, bundle, clip_path, live=False)))
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        frame_times = sorted(m.json()["inputs"]["frame_ts"] for m in recorder.on(f"{BASE}/events"))
        assert len(frame_times) == clip.frame_count

        def frame_of(frame_ts: float) -> int | None:  # the clip frame a run-1 frame time belongs to
            nearest = min(range(len(frame_times)), key=lambda i: abs(frame_times[i] - frame_ts))
            return nearest if abs(frame_times[nearest] - frame_ts) < 1e-3 else None

        scenes = {i: clip.scene_at(i / clip.fps) for i in range(clip.frame_count)}
        seen = len(recorder.messages)
        second = _run_cli("run", "--config", str(_config(tmp_path, broker, bundle, clip_path, live=True)))
        try:  # up, subscribed to its commands, and past its first result
            assert recorder.wait_for(lambda ms: any(m.topic == f"{BASE}/events" for m in ms[seen:]), 60)
            replies: dict[str, dict[str, Any]] = {}

            def ask(payload: str | dict[str, Any], request_id: str | None) -> dict[str, Any]:
                before = len(recorder.on(f"{BASE}/search/result"))
                recorder.client.publish(f"{BASE}/cmd/search", payload if isinstance(payload, str)
                                        else json.dumps(payload), qos=1).wait_for_publish(5)
                assert recorder.wait_for(lambda _: len(recorder.on(f"{BASE}/search/result")) > before, 30), \
                    f"no answer to {payload!r}"
                reply = recorder.on(f"{BASE}/search/result")[-1].json()
                jsonschema.validate(reply, RESULT_SCHEMA)
                assert reply["request_id"] == request_id
                return reply

            bad = ask("{this is not json", None)
            assert bad["ok"] is False and "not JSON" in bad["error"]
            bad = ask({"request_id": "bad-k", "text": "a red circle", "k": 0}, "bad-k")
            assert bad["ok"] is False and "k: expected a whole number" in bad["error"]

            for attempt in range(40):  # the writer thread adds run 2's first frame right after its result
                warm = ask({"request_id": f"warm-{attempt}", "vector": [1.0] * 64, "k": 1}, f"warm-{attempt}")
                if warm["index"]["frames"] == clip.frame_count + 1:
                    break
            assert warm["index"]["frames"] == clip.frame_count + 1
            queries = _zone_queries(scenes)
            assert len(queries) >= 4, [q.text for q in queries]
            precision, found = [], 0
            chance = sum(sum(matches(q, s) for s in scenes.values()) / len(scenes) for q in queries) / len(queries)
            for query in queries:
                request_id = f"q-{uuid.uuid4().hex[:8]}"
                reply = replies[request_id] = ask({"request_id": request_id, "text": query.text, "k": 5}, request_id)
                assert reply["ok"] and len(reply["hits"]) == 5
                assert reply["index"]["frames"] == clip.frame_count + 1  # run 1's frames, and run 2's first
                frames = [frame_of(hit["frame_ts"]) for hit in reply["hits"]]
                relevant = [f is not None and matches(query, scenes[f]) for f in frames]
                precision.append(sum(relevant) / 5)
                found += any(relevant)
                for hit in reply["hits"]:  # each hit's JPEG came on its topic before the result
                    thumbs = recorder.on(hit["thumbnail_topic"])
                    assert thumbs and thumbs[-1].payload[:2] == b"\xff\xd8"
            mean_precision = sum(precision) / len(precision)
            print(f"zone queries: {len(queries)}, precision@5 {mean_precision:.2f} (random: {chance:.2f}), "
                  f"found in top 5: {found}")
            assert mean_precision >= MIN_PRECISION_AT_5, precision
            assert mean_precision >= chance + MIN_OVER_CHANCE, (precision, chance)
            assert found >= MIN_TOP5_HIT_SHARE * len(queries)
        finally:
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
    # and from the device's shell, against the same folder, next to nothing running
    printed = subprocess.run([sys.executable, "-m", "edge_sdk.cli", "search", queries[0].text, "--k", "3",
                              "--index", str(tmp_path / "index"), "--bundle", str(bundle), "--thumbnails",
                              str(tmp_path / "thumbs")], capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert printed.returncode == 0, printed.stderr
    answer = json.loads(printed.stdout)
    jsonschema.validate(answer, RESULT_SCHEMA)
    assert [h["frame_id"] for h in answer["hits"]] == [h["frame_id"] for h in next(
        r for r in replies.values() if r["query"]["text"] == queries[0].text)["hits"]][:3]
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == sorted(
        f"{h['frame_id']}.jpg" for h in answer["hits"])
