"""Updates of a captioning device: a newer captioner commits and captions on; a per-frame bundle with the very
same inputs is refused, because the run's describe gate and caption topic were set up for a captioner."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import announcement, device_config
from releases import Keys

from edge_sdk import Runtime, parse_config
from edge_sdk.bundle import read_bundle, write_bundle
from edge_sdk.describe.serving import GenerateServing
from edge_sdk.update.document import sign_bundle

pytestmark = pytest.mark.slow


def _release(source: Path, out: Path, version: int, keys: Keys, *, encode_only: bool = False) -> Path:
    bundle = read_bundle(source)
    manifest = replace(bundle.manifest, model=replace(bundle.manifest.model, version=str(version)))
    if encode_only:  # the captioner's own encoder served per frame (task raw): the same inputs, no search
        manifest = replace(manifest, signatures=tuple(s for s in manifest.signatures if s.key == "encode"),
                           golden=tuple(g for g in manifest.golden if g.signature == "encode"))
    write_bundle(out, bundle.flatbuffer, manifest, bundle.assets)
    sign_bundle(out, keys.signing, version)
    return out


def _verdict(runtime: Runtime, payload: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    agent = runtime.updates
    assert agent is not None
    agent.handle_announcement(payload)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        report = agent.reporter.find(payload["id"], ("committed", "refused", "rolled_back"))
        if report is not None:
            return report
        time.sleep(0.05)
    raise AssertionError(f"no verdict for {payload['id']}")


def test_a_captioner_updates_to_a_captioner_and_refuses_a_per_frame_bundle(tiny_captioner: Path, tmp_path: Path,
                                                                           keys: Keys) -> None:
    releases = tmp_path / "releases"
    releases.mkdir()
    base = _release(tiny_captioner, releases / "captioner-v1.tflite", 1, keys)
    config = device_config(tmp_path, base, keys, shadow_frames=2, health_frames=2)
    del config["text"], config["sensor"]
    config["describe"] = {"every_s": 0.2}
    with Runtime(parse_config(config)) as runtime:
        runner = threading.Thread(target=runtime.run, name="test-device")
        runner.start()
        try:
            per_frame = _release(tiny_captioner, releases / "captioner-v2-encoder.tflite", 2, keys, encode_only=True)
            report = _verdict(runtime, announcement(per_frame, "per-frame"))
            assert report["step"] == "refused" and report["error"]["code"] == "incompatible", report
            assert "serves 'per-frame'; this run serves 'caption'" in report["error"]["message"]
            newer = _release(tiny_captioner.with_name("captioner_float32.tflite"), releases / "captioner-v3.tflite", 3,
                             keys)
            report = _verdict(runtime, announcement(newer, "newer-captioner"))
            assert report["step"] == "committed", report
            assert runtime.pipeline is not None
            served = runtime.pipeline.model
            assert isinstance(served, GenerateServing) and served.manifest.model.version == "3"
            before = runtime.describe.stats()["gate"] if runtime.describe is not None else {}
            time.sleep(0.5)
            assert runtime.describe is not None and runtime.describe.stats()["gate"] != before  # still describing
        finally:
            runtime.stop()
            runner.join(20.0)
