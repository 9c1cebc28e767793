"""``edge-sdk run`` with ``index.ingest: process``, end to end: the seek model serves the run while the tiny
dual encoder's ``embed_image`` runs in the ingest process; ``cmd/search`` over a real Mosquitto answers
from what that process wrote; then the ingest process is SIGKILLed: the run goes on publishing
results, says why indexing stopped, keeps answering queries from the disk, and exits cleanly; the
folder reopens with exactly the frames the queries saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_sdk.cli import main
from edge_sdk.index import Index
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

pytestmark = [pytest.mark.slow, pytest.mark.broker,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SOCK_SEQPACKET: Linux")]
pytest.importorskip("tensorflow")  # training the tiny bundle needs the host toolchain; the run does not
pytest.importorskip("ai_edge_litert")

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "pi-ingest"
BASE = f"edge_sdk/{DEVICE}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _ingest_pid(run_pid: int) -> int | None:
    for task in Path(f"/proc/{run_pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if b"edge_sdk.index.ingest_child" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return int(pid)
            except OSError:
                continue
    return None


def test_search_answers_from_the_ingest_process_and_the_run_outlives_it(
        tmp_path: Path, broker: MosquittoBroker, retrieval_bundle: Path) -> None:
    clip = tmp_path / "clip.mp4"
    assert main(["seek-clip", str(clip), "--seconds=20", "--fps=5", "--size=96", "--seed=4"]) == 0
    config = {"device": DEVICE, "camera": {"source": f"file://{clip}", "playback": "realtime", "loop": True},
              "index": {"path": str(tmp_path / "index"), "bundle": str(retrieval_bundle), "max_rate_hz": 0,
                        "ingest": "process"},
              "mqtt": {"host": broker.host, "port": broker.port, "outbox": {"path": str(tmp_path / "outbox.db")}},
              "output": {"snapshot_hz": 0},  # the seek model's other inputs, from the clip's files
              "text": {"source": "file", "path": str(clip.with_suffix(".commands.jsonl"))},
              "sensor": {"source": "file", "path": str(clip.with_suffix(".sensor.jsonl")), "max_age_s": None}}
    (tmp_path / "device.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(tmp_path / "device.yaml")],
                           env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with MQTTRecorder(broker.host, broker.port, [f"{BASE}/#"]) as recorder:
        try:
            def ask(query: dict[str, Any]) -> dict[str, Any]:
                before = len(recorder.on(f"{BASE}/search/result"))
                recorder.client.publish(f"{BASE}/cmd/search", json.dumps(query), qos=1).wait_for_publish(5)
                assert recorder.wait_for(lambda _: len(recorder.on(f"{BASE}/search/result")) > before, 30)
                reply = recorder.on(f"{BASE}/search/result")[-1].json()
                assert reply["ok"] and reply["request_id"] == query["request_id"], reply
                return reply

            assert recorder.wait_for(lambda ms: any(m.topic == f"{BASE}/events" for m in ms), 90)
            for attempt in range(60):  # the run indexes every frame, five a second
                warm = ask({"request_id": f"warm-{attempt}", "vector": [1.0] * 64, "k": 1})
                if warm["index"]["frames"] >= 10:
                    break
                time.sleep(0.5)
            assert warm["index"]["frames"] >= 10
            reply = ask({"request_id": "red", "text": "a red circle on the left", "k": 5})
            assert len(reply["hits"]) == 5
            for hit in reply["hits"]:  # each JPEG thumbnail came on its topic, from what the ingest process wrote
                assert recorder.on(hit["thumbnail_topic"])[-1].payload[:2] == b"\xff\xd8"

            ingest_pid = _ingest_pid(run.pid)
            assert ingest_pid is not None
            os.kill(ingest_pid, signal.SIGKILL)
            time.sleep(1.0)
            after_kill = ask({"request_id": "after-kill", "vector": [1.0] * 64, "k": 3})
            events = len(recorder.on(f"{BASE}/events"))
            assert recorder.wait_for(lambda _: len(recorder.on(f"{BASE}/events")) >= events + 10, 30), \
                "the run stopped publishing results when its ingest process died"
            later = ask({"request_id": "later", "text": "a blue square", "k": 3})
            assert later["index"]["frames"] == after_kill["index"]["frames"] >= warm["index"]["frames"]
        finally:
            run.send_signal(signal.SIGTERM)
            _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "was killed by signal 9" in err and "goes on without indexing" in err, err[-3000:]
    assert not Path(f"/proc/{ingest_pid}/cmdline").exists()
    with Index(tmp_path / "index") as index:  # a writer's open: rows of a half-written hand-over are dropped
        assert len(index) == later["index"]["frames"]
