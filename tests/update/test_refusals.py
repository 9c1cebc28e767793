"""The tampering matrix on a running device: each bad update is refused with its own error, nothing on
disk changes but the staging file's removal, and the serving model never stops."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import announcement, device_config
from releases import Keys, make_incompatible, make_release

from edge_sdk import Runtime, parse_config
from edge_sdk.update.canonical import canonical_json
from edge_sdk.update.serve import ModelServer

pytestmark = pytest.mark.slow


class Device:
    def __init__(self, root: Path, keys: Keys) -> None:
        self.root, self.keys = root, keys
        self.releases = root / "releases"
        self.base = make_release(self.releases, 1, keys.signing)
        self.runtime = Runtime(parse_config(device_config(root, self.base, keys)))
        self.thread = threading.Thread(target=self.runtime.run, name="test-device")
        self.thread.start()
        self.server = ModelServer(self.releases, "127.0.0.1", 0).start()

    @property
    def agent(self):  # type: ignore[no-untyped-def]
        return self.runtime.updates

    def apply(self, payload: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        self.agent.handle_announcement(payload)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            report = self.agent.reporter.find(payload.get("id"), ("committed", "refused", "rolled_back"))
            if report is not None:
                return report
            time.sleep(0.05)
        raise AssertionError(f"no verdict for {payload.get('id')}: {list(self.agent.reporter.history)[-3:]}")

    def disk(self) -> dict[str, str]:
        store = self.root / "store"
        return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(store.rglob("*")) if p.is_file()}

    def results(self) -> int:
        return int(self.runtime.pipeline.stats()["results"])

    def close(self) -> None:
        self.server.close()
        self.runtime.stop()
        self.thread.join(20.0)
        self.runtime.close()


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Device]:
    device = Device(tmp_path_factory.mktemp("device"), keys)
    try:
        v3 = make_release(device.releases, 3, keys.signing)
        report = device.apply(announcement(v3, "good-v3"))
        assert report["step"] == "committed", report
        yield device
    finally:
        device.close()


def _flipped_bundle(d: Device) -> dict[str, Any]:
    bundle = make_release(d.releases, 4, d.keys.signing, name="flipped.tflite")
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3] ^= 0x01
    bundle.write_bytes(bytes(data))
    return announcement(bundle, "flipped-byte")


def _edited_document(d: Device) -> dict[str, Any]:
    payload = announcement(make_release(d.releases, 4, d.keys.signing, name="edited.tflite"), "edited-document")
    payload["document"]["signed"]["version"] = 40  # a higher version than was signed
    return payload


def _wrong_key(d: Device) -> dict[str, Any]:
    payload = announcement(make_release(d.releases, 4, d.keys.other, name="wrong-key.tflite"), "wrong-key")
    payload["document"]["signatures"][0]["keyid"] = d.keys.signing.public.keyid  # claims the trusted key
    return payload


def _unknown_key(d: Device) -> dict[str, Any]:
    return announcement(make_release(d.releases, 4, d.keys.other, name="unknown-key.tflite"), "unknown-key")


def _truncated(d: Device, via_http: bool) -> dict[str, Any]:
    bundle = make_release(d.releases, 4, d.keys.signing, name=f"truncated-{via_http}.tflite")
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    return announcement(bundle, f"truncated-{via_http}", d.server.url(bundle.name) if via_http else None)


def _expired(d: Device) -> dict[str, Any]:
    return announcement(make_release(d.releases, 4, d.keys.signing, expires_in_s=-60.0, name="expired.tflite"),
                        "expired")


def _replayed(version: int) -> Callable[[Device], dict[str, Any]]:
    def make(d: Device) -> dict[str, Any]:
        return announcement(make_release(d.releases, version, d.keys.signing, name=f"replay-{version}.tflite"),
                            f"replay-v{version}")
    return make


def _not_found(d: Device) -> dict[str, Any]:
    payload = announcement(make_release(d.releases, 4, d.keys.signing, name="gone.tflite"), "http-404")
    payload["url"] = d.server.url("no-such-bundle.tflite")
    return payload


CASES: list[tuple[str, Callable[[Device], dict[str, Any]], str, str]] = [
    ("flipped byte in the bundle", _flipped_bundle, "digest_mismatch", "changed after signing"),
    ("edited signed document", _edited_document, "bad_signature", "does not verify"),
    ("signed by another key claiming the trusted id", _wrong_key, "bad_signature", "does not verify"),
    ("signed by an unknown key", _unknown_key, "unknown_key", "which this device does not trust"),
    ("truncated file", lambda d: _truncated(d, False), "truncated", "the source ended early"),
    ("truncated over HTTP", lambda d: _truncated(d, True), "truncated", "the source ended early"),
    ("replayed older version", _replayed(2), "not_newer", "v2 is older than the highest version"),
    ("replayed equal version", _replayed(3), "not_newer", "v3 is the same version as"),
    ("expired", _expired, "expired", "expired at"),
    ("incompatible inputs", lambda d: announcement(make_incompatible(d.releases, 4, d.keys.signing), "incompat"),
     "incompatible", "describes inputs"),
    ("fails its goldens", lambda d: announcement(make_release(d.releases, 4, d.keys.signing, bad_goldens=True),
                                                 "bad-goldens"), "golden_failed", "fails its golden vectors"),
    ("goldens pass, live frames fail in shadow",
     lambda d: announcement(make_release(d.releases, 4, d.keys.signing, sensor_channel="range_cm",
                                         name="live-bad.tflite"), "shadow-bad"), "shadow_failed", "in shadow"),
    ("HTTP 404", _not_found, "download_failed", "HTTP 404"),
    ("not an announcement", lambda d: {"id": "garbage", "document": {"signed": 1}, "url": "x"},
     "bad_manifest", "expected an update document"),
]


@pytest.mark.parametrize(("make", "code", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_update_is_refused_and_changes_nothing(device: Device, make: Callable[[Device], dict[str, Any]],
                                                     code: str, words: str) -> None:
    payload = make(device)
    before_disk, before_results, serving = device.disk(), device.results(), device.runtime.pipeline.model
    report = device.apply(payload)
    assert report["step"] == "refused", report
    assert report["error"]["code"] == code, report
    assert words in report["error"]["message"], report["error"]["message"]
    assert device.disk() == before_disk  # state, counter, models; staging holds nothing left over
    assert report["serving"] == {"model": "seek", "version": 3}
    assert device.runtime.pipeline.model is serving
    time.sleep(0.3)
    assert device.results() > before_results  # the running model kept running


def test_after_the_refusals_a_good_update_over_http_commits(device: Device) -> None:
    v5 = make_release(device.releases, 5, device.keys.signing)
    report = device.apply(announcement(v5, "good-v5", device.server.url(v5.name)))
    assert report["step"] == "committed", report
    assert device.agent.stats()["serving"] == {"model": "seek", "version": 5}
    assert device.runtime.pipeline.model.manifest.model.version == "5"
    state = json.loads((device.root / "store" / "state.json").read_text())
    assert (state["current"]["version"], state["previous"]["version"], state["trial_boots"]) == (5, 3, None)
    assert canonical_json(state)  # plain JSON data, no floats
    shutil.rmtree(device.releases / "unused", ignore_errors=True)
