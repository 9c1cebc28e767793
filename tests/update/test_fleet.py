"""A fleet of real ``edge-sdk run`` processes on one Mosquitto: a good rollout reaches every device,
a bad one stops after its canary wave."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fleet import DeviceProcess
from releases import Keys, make_release

from edge_sdk.testing import MosquittoBroker, MQTTRecorder
from edge_sdk.update.rollout import Rollout
from edge_sdk.update.serve import ModelServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]
FLEET = 5  # the machine's two cores are shared; bench/updates.py runs a larger fleet


def _online(recorder: MQTTRecorder, devices: list[str], timeout_s: float) -> bool:
    return recorder.wait_for(lambda ms: {m.topic.split("/")[1] for m in ms
                                         if m.topic.endswith("/available") and m.payload == b"online"} >= set(devices),
                             timeout_s)


def test_a_good_rollout_commits_everywhere_and_a_bad_one_stops_after_the_canary(
        tmp_path: Path, keys: Keys, broker: MosquittoBroker, recorder_for: Any) -> None:
    releases = tmp_path / "releases"
    base = make_release(releases, 1, keys.signing)
    good, bad = make_release(releases, 2, keys.signing), make_release(releases, 3, keys.signing, bad_goldens=True)
    names = [f"pi-{i:02d}" for i in range(FLEET)]
    devices = [DeviceProcess(tmp_path / name, name, base, keys, broker) for name in names]
    recorder = recorder_for(broker, ["edge_sdk/+/available", "edge_sdk/+/update"])
    try:
        for device in devices:
            device.start()
        assert _online(recorder, names, 90.0), [d.log() for d in devices if d.process.poll() is not None]
        with ModelServer(releases, "127.0.0.1", 0).start() as server:
            def roll(bundle: Path, update_id: str) -> dict[str, Any]:
                document = json.loads(Path(str(bundle) + ".update.json").read_text())
                return Rollout(broker.host, broker.port, document, server.url(bundle.name), names, canary=1,
                               growth=2.0, max_failure_share=0.0, wave_timeout_s=120.0, update_id=update_id).run()
            first = roll(good, "fleet-good")
            second = roll(bad, "fleet-bad")
    finally:
        for device in devices:
            device.stop()
    assert first.committed == FLEET and first.stopped_after_wave is None, first.to_dict()
    assert [len(w.devices) for w in first.waves] == [1, 2, 2]
    assert second.stopped_after_wave == 1 and second.committed == 0, second.to_dict()
    assert second.waves[0].failed == {"pi-00": "golden_failed"}
    saw_bad = {m.topic.split("/")[1] for m in recorder.messages
               if m.topic.endswith("/update") and m.json()["update"] == "fleet-bad"}
    assert saw_bad == {"pi-00"}  # the later waves never got it
    for device in devices:
        state = json.loads((device.directory / "store" / "state.json").read_text())
        assert state["current"]["version"] == 2 and state["trial_boots"] is None
