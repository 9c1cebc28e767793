"""Benchmark of over-the-air model updates (``make bench-updates``).

Prints a table, then as its last line one JSON object with the figures issue 13 asks for. Everything
runs for real: a Mosquitto, the shipped seek bundle and copies re-signed at other versions with a real
Ed25519 key, HTTP from ``serve-models``, ``edge-sdk run`` processes killed with SIGKILL, a fleet of
them rolled out to in waves.

    python bench/updates.py [--power-cuts 200] [--tampered 100] [--fleet 20] [--good-updates 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "update"))

from fleet import DeviceProcess
from powercut import KILL_POINTS, PowerCutHarness
from releases import Keys, make_incompatible, make_keys, make_release

from edge_sdk import Runtime, parse_config
from edge_sdk.testing import MosquittoBroker, MQTTRecorder
from edge_sdk.update.rollout import Rollout
from edge_sdk.update.serve import ModelServer

TERMINAL = ("committed", "refused", "rolled_back")


def _config(root: Path, base: Path, keys: Keys, device: str, broker: MosquittoBroker | None, **update: Any
            ) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    sensor = root / "sensor.jsonl"
    sensor.write_text('{"distance_cm": 80}\n')
    config: dict[str, Any] = {
        "device": device, "model": {"path": str(base)},
        "camera": {"source": "seek://?seconds=36000&fps=20&size=64"},
        "text": {"prompt": "find the red circle"}, "sensor": {"source": "file", "path": str(sensor), "max_age_s": None},
        "output": {"snapshot_hz": 0}, "pipeline": {"stats_interval_s": 0},
        "update": {"store_dir": str(root / "store"), "trusted_keys": [str(keys.public)], "shadow_frames": 5,
                   "health_frames": 5, **update},
    }
    if broker is None:
        config["embedded_broker"] = {"enabled": False}
    else:
        config["mqtt"] = {"host": broker.host, "port": broker.port, "delivery": "threads",
                          "homeassistant": {"enabled": False}, "outbox": {"path": str(root / "outbox.sqlite3")}}
    return config


class MQTTDevice:
    """An in-process runtime on the broker; announcements and verdicts travel over MQTT."""

    def __init__(self, root: Path, base: Path, keys: Keys, broker: MosquittoBroker, device: str, **update: Any) -> None:
        self.device = device
        self.runtime = Runtime(parse_config(_config(root, base, keys, device, broker, **update)))
        self.thread = threading.Thread(target=self.runtime.run, name="bench-device")
        self.thread.start()
        self.runtime.publisher.wait_connected(10.0)
        self.recorder = MQTTRecorder(broker.host, broker.port, [f"edge_sdk/{device}/update"]).start()
        time.sleep(0.5)

    def apply(self, update_id: str, bundle: Path, url: str | None = None, edit: Any = None) -> tuple[dict[str, Any], float]:
        document = json.loads(Path(str(bundle) + ".update.json").read_text())
        if edit is not None:
            edit(document)
        payload = json.dumps({"id": update_id, "document": document, "url": url or str(bundle)}).encode()
        started = time.monotonic()
        self.recorder.client.publish(f"edge_sdk/{self.device}/cmd/model", payload, qos=1)
        deadline = started + 120.0
        while time.monotonic() < deadline:
            for message in reversed(self.recorder.messages):
                report = message.json()
                if report["update"] == update_id and report["step"] in TERMINAL:
                    return report, time.monotonic() - started
            time.sleep(0.01)
        raise RuntimeError(f"no verdict for {update_id}")

    def close(self) -> None:
        self.recorder.close()
        self.runtime.stop()
        self.thread.join(20.0)
        self.runtime.close()


def bench_device(root: Path, keys: Keys, broker: MosquittoBroker, tampered: int, good_updates: int,
                 rng: random.Random) -> dict[str, Any]:
    releases = root / "releases"
    base = make_release(releases, 1, keys.signing)
    device = MQTTDevice(root / "device", base, keys, broker, "bench-dev")
    figures: dict[str, Any] = {}
    try:
        with ModelServer(releases, "127.0.0.1", 0).start() as server:
            times, version = [], 1
            for _ in range(good_updates):
                version += 1
                bundle = make_release(releases, version, keys.signing)
                report, seconds = device.apply(f"good-v{version}", bundle, server.url(bundle.name))
                assert report["step"] == "committed", report
                times.append(seconds)
            figures["update_s_p50"] = round(statistics.median(times), 3)
            figures["update_s_all"] = [round(t, 2) for t in times]
            kinds: Counter[str] = Counter()
            accepted: Counter[str] = Counter()
            codes: Counter[str] = Counter()
            for index in range(tampered):
                kind, update_id = TAMPERINGS[index % len(TAMPERINGS)], f"tampered-{index}"
                report = KIND_RUNNERS[kind](device, releases, keys, version, update_id, rng, server)
                kinds[kind] += 1
                codes[report["error"]["code"] if report["error"] else report["step"]] += 1
                if report["step"] != "refused":
                    accepted[kind] += 1
            figures["tampered"] = dict(kinds)
            figures["tampered_codes"] = dict(codes)
            figures["unsigned_or_tampered_accepted"] = sum(accepted.values())
            figures["downgrades_accepted"] = accepted["replayed_older"] + accepted["replayed_equal"]
    finally:
        device.close()
    return figures


def _flip(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
          server: ModelServer) -> dict[str, Any]:
    bundle = make_release(releases, version + 1, keys.signing, name=f"{update_id}.tflite")
    data = bytearray(bundle.read_bytes())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    bundle.write_bytes(bytes(data))
    return device.apply(update_id, bundle, server.url(bundle.name))[0]


def _edit_document(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str,
                   rng: random.Random, server: ModelServer) -> dict[str, Any]:
    bundle = make_release(releases, version + 1, keys.signing, name=f"{update_id}.tflite")
    field = rng.choice(["version", "expires", "size", "sha256"])

    def edit(document: dict[str, Any]) -> None:
        signed = document["signed"]
        if field == "version":
            signed["version"] += rng.randrange(1, 100)
        elif field == "expires":
            signed["expires"] = "2099-01-01T00:00:00Z"
        elif field == "size":
            signed["bundle"]["size"] += 1
        else:
            signed["bundle"]["sha256"] = "0" * 64
    return device.apply(update_id, bundle, server.url(bundle.name), edit)[0]


def _signed_by_other(claim_trusted: bool) -> Any:
    def run(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
            server: ModelServer) -> dict[str, Any]:
        bundle = make_release(releases, version + 1, keys.other, name=f"{update_id}.tflite")

        def edit(document: dict[str, Any]) -> None:
            if claim_trusted:
                document["signatures"][0]["keyid"] = keys.signing.public.keyid
        return device.apply(update_id, bundle, server.url(bundle.name), edit)[0]
    return run


def _truncated(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
               server: ModelServer) -> dict[str, Any]:
    bundle = make_release(releases, version + 1, keys.signing, name=f"{update_id}.tflite")
    bundle.write_bytes(bundle.read_bytes()[: rng.randrange(1, bundle.stat().st_size)])
    return device.apply(update_id, bundle, server.url(bundle.name))[0]


def _replayed(equal: bool) -> Any:
    def run(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
            server: ModelServer) -> dict[str, Any]:
        old = version if equal else rng.randrange(1, version)
        bundle = releases / f"seek-v{old}.tflite"  # the genuine, signed, once-good release
        return device.apply(update_id, bundle, server.url(bundle.name))[0]
    return run


def _expired(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
             server: ModelServer) -> dict[str, Any]:
    bundle = make_release(releases, version + 1, keys.signing, expires_in_s=-rng.uniform(1, 86400 * 30),
                          name=f"{update_id}.tflite")
    return device.apply(update_id, bundle, server.url(bundle.name))[0]


def _incompatible(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
                  server: ModelServer) -> dict[str, Any]:
    bundle = make_incompatible(releases, version + 1, keys.signing)
    return device.apply(update_id, bundle, server.url(bundle.name))[0]


def _bad_goldens(device: MQTTDevice, releases: Path, keys: Keys, version: int, update_id: str, rng: random.Random,
                 server: ModelServer) -> dict[str, Any]:
    bundle = make_release(releases, version + 1, keys.signing, bad_goldens=True, name=f"{update_id}.tflite")
    return device.apply(update_id, bundle, server.url(bundle.name))[0]


KIND_RUNNERS = {"flipped_byte": _flip, "edited_document": _edit_document,
                "wrong_key": _signed_by_other(True), "unknown_key": _signed_by_other(False),
                "truncated": _truncated, "replayed_older": _replayed(False), "replayed_equal": _replayed(True),
                "expired": _expired, "incompatible": _incompatible, "bad_goldens": _bad_goldens}
TAMPERINGS = list(KIND_RUNNERS)


def bench_rollback(root: Path, keys: Keys, broker: MosquittoBroker) -> dict[str, Any]:
    releases = root / "releases"
    base = make_release(releases, 1, keys.signing)
    bad = make_release(releases, 2, keys.signing, sensor_channel="range_cm")  # goldens pass, live frames fail
    device = MQTTDevice(root / "device", base, keys, broker, "bench-rollback", shadow_frames=0)
    try:
        report, seconds = device.apply("bad-live", bad)
        serving = device.runtime.pipeline.model.manifest.model.version
    finally:
        device.close()
    return {"bad_model_rolled_back": report["step"] == "rolled_back" and serving == "1",
            "rollback_s": round(seconds, 3), "rollback_reason": (report["error"] or {}).get("message")}


def bench_swap(root: Path, keys: Keys) -> dict[str, Any]:
    releases = root / "releases"
    base, v2 = make_release(releases, 1, keys.signing), make_release(releases, 2, keys.signing)
    config = _config(root / "swap", base, keys, "bench-swap", None, health_frames=50)
    config["camera"].update(source="seek://?seconds=3600&fps=100&size=64", playback="every_frame")
    indexes: list[int] = []
    with Runtime(parse_config(config), on_result=lambda r: indexes.append(r.frame_index)) as runtime:
        thread = threading.Thread(target=runtime.run, name="bench-swap")
        thread.start()
        time.sleep(0.5)
        document = json.loads(Path(str(v2) + ".update.json").read_text())
        runtime.updates.handle_announcement({"id": "swap", "document": document, "url": str(v2)})
        while runtime.updates.reporter.find("swap", TERMINAL) is None:
            time.sleep(0.05)
        time.sleep(0.3)
        runtime.stop()
        thread.join(30.0)
        committed = runtime.updates.reporter.find("swap", ("committed",)) is not None
    lost = (indexes[-1] - indexes[0] + 1) - len(set(indexes))
    return {"swap_frames_lost": lost, "swap_results": len(indexes), "swap_committed": committed}


def bench_fleet(root: Path, keys: Keys, broker: MosquittoBroker, size: int) -> dict[str, Any]:
    releases = root / "releases"
    base = make_release(releases, 1, keys.signing)
    good, bad = make_release(releases, 2, keys.signing), make_release(releases, 3, keys.signing, bad_goldens=True)
    names = [f"fleet-{i:02d}" for i in range(size)]
    devices = [DeviceProcess(root / name, name, base, keys, broker, fps=1.0) for name in names]
    recorder = MQTTRecorder(broker.host, broker.port, ["edge_sdk/+/available"]).start()
    try:
        for device in devices:
            device.start()
        deadline = time.monotonic() + 180.0
        while time.monotonic() < deadline:
            online = {m.topic.split("/")[1] for m in recorder.messages if m.payload == b"online"}
            if online >= set(names):
                break
            time.sleep(0.2)
        with ModelServer(releases, "127.0.0.1", 0).start() as server:
            def roll(bundle: Path, update_id: str) -> Any:
                document = json.loads(Path(str(bundle) + ".update.json").read_text())
                return Rollout(broker.host, broker.port, document, server.url(bundle.name), names, canary=1,
                               growth=2.0, wave_timeout_s=300.0, update_id=update_id).run()
            started = time.monotonic()
            first = roll(good, "fleet-good")
            good_s = time.monotonic() - started
            second = roll(bad, "fleet-bad")
    finally:
        for device in devices:
            device.stop()
        recorder.close()
    return {"fleet_devices": size, "fleet_good_committed": first.committed, "fleet_good_s": round(good_s, 1),
            "fleet_good_waves": [len(w.devices) for w in first.waves],
            "fleet_bad_stopped_after_wave": second.stopped_after_wave, "fleet_bad_reached": sum(
                len(w.devices) for w in second.waves)}


def bench_power_cuts(root: Path, keys: Keys, broker: MosquittoBroker, cycles: int) -> dict[str, Any]:
    harness = PowerCutHarness(root, keys, broker, seed=13)
    try:
        for index in range(cycles):
            result = harness.cycle(KILL_POINTS[index % len(KILL_POINTS)])
            if result.after is None:
                print(f"  cycle {index}: BRICKED at {result.point}: {result.problem}", file=sys.stderr)
    finally:
        harness.close()
    results = harness.results
    return {"power_cut_cycles": len(results), "bricked": sum(r.after is None for r in results),
            "power_cut_new_version_after": sum(r.after == r.version for r in results),
            "power_cut_old_version_after": sum(r.after == r.before for r in results),
            "power_cut_cycle_s_p50": round(statistics.median(r.seconds for r in results), 2) if results else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--power-cuts", type=int, default=200)
    parser.add_argument("--tampered", type=int, default=100)
    parser.add_argument("--fleet", type=int, default=20)
    parser.add_argument("--good-updates", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(13)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-updates-") as tmp:
        root = Path(tmp)
        keys = make_keys(root / "keys")
        with MosquittoBroker(root / "broker").start() as broker:
            steps = [("device", lambda: bench_device(root / "device", keys, broker, args.tampered, args.good_updates,
                                                     rng)),
                     ("rollback", lambda: bench_rollback(root / "rollback", keys, broker)),
                     ("swap", lambda: bench_swap(root / "swap", keys)),
                     ("fleet", lambda: bench_fleet(root / "fleet", keys, broker, args.fleet)),
                     ("power cuts", lambda: bench_power_cuts(root / "power", keys, broker, args.power_cuts))]
            for name, step in steps:
                started = time.monotonic()
                print(f"{name}...", file=sys.stderr, flush=True)
                figures.update(step())
                print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    rows = [("power cuts (SIGKILL at every step)", f"{figures['power_cut_cycles']} cycles, {figures['bricked']} bricked"),
            ("tampered inputs accepted", f"{figures['unsigned_or_tampered_accepted']} of {args.tampered}"),
            ("downgrades accepted", str(figures["downgrades_accepted"])),
            ("bad model rolled back", str(figures["bad_model_rolled_back"])),
            ("frames lost in the swap", f"{figures['swap_frames_lost']} of {figures['swap_results']}"),
            ("announce to committed (HTTP), p50", f"{figures['update_s_p50']} s"),
            ("fleet: good rollout committed", (f"{figures['fleet_good_committed']} of {figures['fleet_devices']} "
                                               f"in waves {figures['fleet_good_waves']}")),
            ("fleet: bad rollout stopped after wave", str(figures["fleet_bad_stopped_after_wave"]))]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
