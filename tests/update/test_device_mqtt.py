"""A device on a real Mosquitto takes updates announced on cmd/model: over HTTP, in MQTT chunks
(resumed), rolled back by its health window; every step reported on <device>/update."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import announcement, device_config
from releases import Keys, make_release

from edge_sdk import Runtime, parse_config
from edge_sdk.testing import MosquittoBroker, MQTTRecorder
from edge_sdk.update.rollout import Rollout
from edge_sdk.update.serve import ModelServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ORDER = ["announced", "document_verified", "downloaded", "verified", "goldens_passed", "shadow", "installed",
         "swapped", "committed"]


@contextmanager
def running(config: dict[str, Any]) -> Iterator[Runtime]:
    with Runtime(parse_config(config)) as runtime:
        thread = threading.Thread(target=runtime.run, name="test-device")
        thread.start()
        try:
            runtime.publisher.wait_connected(10.0)
            yield runtime
        finally:
            runtime.stop()
            thread.join(20.0)


def _reports(recorder: MQTTRecorder, update_id: str) -> list[dict[str, Any]]:
    return _reports_in(recorder.messages, update_id)


def _announce(recorder: MQTTRecorder, device: str, payload: dict[str, Any], timeout_s: float = 30.0) -> None:
    """Publish until the device reports on it: right after connecting it may not be subscribed yet
    (a rollout re-announces the same way; a repeated announcement never runs twice)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        recorder.client.publish(f"edge_sdk/{device}/cmd/model", json.dumps(payload).encode(), qos=1)
        if recorder.wait_for(lambda ms: bool(_reports_in(ms, payload["id"])), 2.0):
            return
    raise AssertionError(f"device {device} never reported on {payload['id']}")


def _reports_in(messages: list[Any], update_id: str) -> list[dict[str, Any]]:
    return [m.json() for m in messages if m.topic.endswith("/update") and m.json()["update"] == update_id]


def _verdict(recorder: MQTTRecorder, update_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    assert recorder.wait_for(lambda ms: any(
        m.topic.endswith("/update") and m.json()["update"] == update_id
        and m.json()["step"] in ("committed", "refused", "rolled_back") for m in ms), timeout_s), \
        [m.payload[:200] for m in recorder.messages if m.topic.endswith("/update")]
    return _reports(recorder, update_id)[-1]


def test_an_update_over_http_is_reported_step_by_step_and_results_name_the_new_version(
        tmp_path: Path, keys: Keys, broker: MosquittoBroker, recorder_for: Any, update_validator: Any) -> None:
    releases = tmp_path / "releases"
    base, v2 = make_release(releases, 1, keys.signing), make_release(releases, 2, keys.signing)
    recorder = recorder_for(broker, ["edge_sdk/pi-http/#"])
    with ModelServer(releases, "127.0.0.1", 0).start() as server, \
            running(device_config(tmp_path, base, keys, device="pi-http", broker=broker)) as runtime:
        _announce(recorder, "pi-http", announcement(v2, "http-v2", server.url(v2.name)))
        verdict = _verdict(recorder, "http-v2")
        assert verdict["step"] == "committed", verdict
        assert recorder.wait_for(lambda ms: any(m.topic.endswith("/events") and m.json()["model"]["version"] == "2"
                                                for m in ms), 10.0)
        assert recorder.wait_for(lambda ms: any(m.topic.endswith("/stats") and m.json().get("update", {})
                                                .get("serving", {}).get("version") == 2 for m in ms), 10.0)
        summary = runtime.summary()
    # a verdict repeated for a repeated announcement is the same report again (same ts): counted once
    reports = list({(r["step"], r["ts"]): r for r in _reports(recorder, "http-v2")}.values())
    for report in reports:
        update_validator.validate(report)
    assert [r["step"] for r in reports] == ORDER
    assert reports[-1]["detail"]["update_s"] > 0 and reports[-1]["serving"]["version"] == 2
    assert summary["update"]["steps"]["committed"] == 1
    boot = next(m.json() for m in recorder.messages if m.topic.endswith("/update") and m.json()["step"] == "boot")
    update_validator.validate(boot)


def test_an_update_in_mqtt_chunks_resumes_from_the_part_a_broken_download_left(
        tmp_path: Path, keys: Keys, broker: MosquittoBroker, recorder_for: Any) -> None:
    releases = tmp_path / "releases"
    base, v2 = make_release(releases, 1, keys.signing), make_release(releases, 2, keys.signing)
    data = v2.read_bytes()
    part = tmp_path / "store" / "staging" / f"{hashlib.sha256(data).hexdigest()}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: 3 * 32 * 1024])  # what a download cut off after three chunks leaves
    recorder = recorder_for(broker, ["edge_sdk/pi-chunks/update"])
    with running(device_config(tmp_path, base, keys, device="pi-chunks", broker=broker)) as runtime:
        document = json.loads(Path(str(v2) + ".update.json").read_text())
        rollout = Rollout(broker.host, broker.port, document, "mqtt", ["pi-chunks"], bundle_path=v2,
                          wave_timeout_s=60.0, update_id="chunks-v2")
        result = rollout.run()
        assert result.committed == 1, result.to_dict()
        assert runtime.updates.stats()["serving"]["version"] == 2
    downloading = next(r for r in _reports(recorder, "chunks-v2") if r["step"] == "downloading")
    assert downloading["detail"]["offset"] == 3 * 32 * 1024


def test_a_model_that_fails_on_live_frames_is_rolled_back_by_its_health_window_while_the_old_one_serves(
        tmp_path: Path, keys: Keys, broker: MosquittoBroker, recorder_for: Any) -> None:
    releases = tmp_path / "releases"
    base = make_release(releases, 1, keys.signing)
    bad = make_release(releases, 2, keys.signing, sensor_channel="range_cm")  # goldens pass; live readings do not fit
    recorder = recorder_for(broker, ["edge_sdk/pi-bad/update"])
    config = device_config(tmp_path, base, keys, device="pi-bad", broker=broker, shadow_frames=0)
    with running(config) as runtime:
        before = runtime.pipeline.stats()
        _announce(recorder, "pi-bad", announcement(bad, "bad-v2"))
        verdict = _verdict(recorder, "bad-v2")
        time.sleep(0.5)
        after = runtime.pipeline.stats()
        assert runtime.pipeline.model.manifest.model.version == "1"
        stats = runtime.updates.stats()
    assert verdict["step"] == "rolled_back", verdict
    assert verdict["error"]["code"] == "health_failed"
    assert re.search(r"failed \d+ frames in its health window .*lacks channel 'range_cm'", verdict["error"]["message"])
    assert verdict["serving"]["version"] == 1
    # every failed frame was served again by the old model (frame-exact accounting: test_swap.py)
    assert after["results"] > before["results"] and verdict["detail"]["errors"] >= 1
    assert stats["floor"] == 2 and not stats["on_trial"]  # v2 can never come back
    assert [r["step"] for r in _reports(recorder, "bad-v2")][-3:] == ["installed", "swapped", "rolled_back"]
