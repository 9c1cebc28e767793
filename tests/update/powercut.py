"""The power-cut harness: SIGKILL a real device process at a step of an update, restart it, and check it
came back with a working, signed model (the newest committed one or the one before).

Kill points: mid-download (MQTT chunks: some sent, then the cut; the next attempt resumes), right after
each reported step (document verified, downloaded, verified, goldens passed, shadow: the install and
its rename follow within milliseconds, so a random delay of 0-20 ms lands inside them), after the swap,
inside the health window, and after the commit.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet import DeviceProcess
from releases import Keys, make_release

from edge_sdk.testing import MosquittoBroker, MQTTRecorder
from edge_sdk.update.chunks import chunk_messages
from edge_sdk.update.document import SignedUpdate
from edge_sdk.update.keys import load_public_keys

__all__ = ["KILL_POINTS", "CycleResult", "PowerCutHarness"]

KILL_POINTS = ("downloading", "document_verified", "downloaded", "verified", "goldens_passed", "shadow",
               "installed", "swapped", "health", "committed")


@dataclass
class CycleResult:
    point: str
    version: int
    before: int  # the committed version serving before the cycle
    after: int | None  # serving after the restart settled; None: bricked
    problem: str | None = None
    seconds: float = 0.0


@dataclass
class PowerCutHarness:
    root: Path
    keys: Keys
    broker: MosquittoBroker
    device_name: str = "pi-power"
    seed: int = 0
    results: list[CycleResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.releases = self.root / "releases"
        self.base = make_release(self.releases, 1, self.keys.signing)
        self.device = DeviceProcess(self.root / "device", self.device_name, self.base, self.keys, self.broker, fps=5.0)
        self.store = self.root / "device" / "store"
        self.trusted = load_public_keys([self.keys.public])
        self.random = random.Random(self.seed)
        topics = [f"edge_sdk/{self.device_name}/{name}" for name in ("update", "events", "available")]
        self.recorder = MQTTRecorder(self.broker.host, self.broker.port, topics).start()
        self._online_seen = 0

    def close(self) -> None:
        self.device.stop()
        self.recorder.close()

    # -- one cycle ------------------------------------------------------------------------------------
    def cycle(self, point: str) -> CycleResult:
        started = time.monotonic()
        if self.device.process is None or self.device.process.poll() is not None:
            self._start()
        before = self._serving_version()
        version = self._floor() + 1
        bundle = self.releases / f"seek-v{version}.tflite"
        if not bundle.exists():
            make_release(self.releases, version, self.keys.signing)
        update_id = f"cut-{len(self.results)}-{point}-v{version}"
        url = "mqtt" if point == "downloading" else str(bundle)
        self._announce(update_id, bundle, url, wait_for="downloading" if point == "downloading" else
                       ("swapped" if point == "health" else point))
        if point == "downloading":
            offset = self._report(update_id, "downloading")["detail"]["offset"]
            for message in list(chunk_messages(bundle, offset))[:2]:
                self.recorder.client.publish(f"edge_sdk/{self.device_name}/cmd/model_chunk",
                                             json.dumps(message).encode(), qos=1)
            time.sleep(0.2)
        elif point == "health":
            time.sleep(self.random.uniform(0.05, 0.6))
        else:
            time.sleep(self.random.uniform(0.0, 0.02))
        self.device.kill()
        self._start()
        after, problem = self._settled(before, version)
        result = CycleResult(point, version, before, after, problem, round(time.monotonic() - started, 3))
        self.results.append(result)
        return result

    # -- helpers --------------------------------------------------------------------------------------
    def _start(self) -> None:
        self.device.start()
        seen = self._online_seen
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            online = [m for m in self.recorder.messages if m.topic.endswith("/available") and m.payload == b"online"]
            if len(online) > seen:
                self._online_seen = len(online)
                return
            time.sleep(0.05)
        raise RuntimeError(f"the device did not come online: {self.device.log()}")

    def _announce(self, update_id: str, bundle: Path, url: str, wait_for: str) -> None:
        """Announce until the device reports on it (it may still be starting), then wait for ``wait_for``."""
        document = json.loads(Path(str(bundle) + ".update.json").read_text())
        payload = json.dumps({"id": update_id, "document": document, "url": url}).encode()
        deadline = time.monotonic() + 90.0
        next_announce = 0.0
        while time.monotonic() < deadline:
            if self._find(update_id, wait_for) is not None:
                return
            final = self._find(update_id, "refused") or self._find(update_id, "rolled_back")
            if final is not None:
                raise RuntimeError(f"update {update_id} ended before {wait_for}: {final}")
            if self._find(update_id, "announced") is None and time.monotonic() >= next_announce:
                self.recorder.client.publish(f"edge_sdk/{self.device_name}/cmd/model", payload, qos=1)
                next_announce = time.monotonic() + 5.0
            time.sleep(0.002)
        raise RuntimeError(f"no {wait_for} report for {update_id}: {self.device.log()}")

    def _find(self, update_id: str, step: str) -> dict[str, Any] | None:
        for message in reversed(self.recorder.messages):
            if message.topic.endswith("/update"):
                report = message.json()
                if report["update"] == update_id and report["step"] == step:
                    return dict(report)
        return None

    def _report(self, update_id: str, step: str) -> dict[str, Any]:
        report = self._find(update_id, step)
        assert report is not None
        return report

    def _settled(self, before: int, version: int) -> tuple[int | None, str | None]:
        """Wait for the restarted device to end any trial and serve results; check what it serves."""
        restart_s = time.time()
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline:
            state = self._state()
            if state.get("trial_boots") is None:
                break
            time.sleep(0.1)
        else:
            return None, "still on trial 90 s after the restart"
        while time.monotonic() < deadline:
            events = [m for m in self.recorder.messages if m.topic.endswith("/events") and m.received_s > restart_s]
            serving = events[-1].json()["model"]["version"] if events else None
            if serving is not None and int(serving) == self._serving_version():
                break
            time.sleep(0.1)
        else:
            return None, f"no result from the expected model after the restart: {self.device.log()}"
        after = int(serving)
        if after not in (before, version):
            return None, f"serves v{after}; expected v{before} (before) or v{version} (the update)"
        problem = self._unsigned(after)
        return (None, problem) if problem else (after, None)

    def _unsigned(self, version: int) -> str | None:
        """None when the serving file is intact and its signed document verifies with the trusted key."""
        current = self._state().get("current")
        path = self.store / current["file"] if current else self.base
        document_file = Path(str(path) + ".update.json")
        try:
            document = SignedUpdate.from_file(document_file)
            document.verify_signature(self.trusted)
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            return f"{path.name}: its document does not verify: {exc}"
        info = document.info
        if hashlib.sha256(path.read_bytes()).hexdigest() != info.sha256 or info.version != version:
            return f"{path.name}: bytes or version differ from its signed document"
        return None

    def _state(self) -> dict[str, Any]:
        path = self.store / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _floor(self) -> int:
        path = self.store / "counter.json"
        return int(json.loads(path.read_text()).get("seek", 1)) if path.exists() else 1

    def _serving_version(self) -> int:
        current = self._state().get("current")
        return int(current["version"]) if current else 1
