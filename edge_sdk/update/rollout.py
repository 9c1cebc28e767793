"""``edge-sdk rollout``: an update to a fleet in waves, stopped when a wave fails too often.

A canary group first, then groups growing by ``growth`` (hawkBit's rollout groups). Each wave's
devices get the announcement on ``<prefix>/<device>/cmd/model``; the rollout then watches their
``<prefix>/<device>/update`` reports: ``committed`` counts as a success, ``refused`` or ``rolled_back``
(or no verdict within the wave's timeout) as a failure. When a wave's failure share passes
``max_failure_share`` the rollout stops there (IoT Jobs' abort criteria): later waves never see it.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.update.chunks import chunk_messages

__all__ = ["Rollout", "RolloutResult", "WaveResult", "plan_waves"]

_log = logging.getLogger(__name__)


def plan_waves(devices: Sequence[str], canary: int = 1, growth: float = 2.0) -> list[list[str]]:
    """``canary`` devices, then groups ``growth`` times the previous one, until every device has one."""
    if canary < 1 or growth < 1.0:
        raise ValueError(f"expected canary >= 1 and growth >= 1. Got: canary={canary}, growth={growth}")
    waves, start, size = [], 0, canary
    while start < len(devices):
        waves.append(list(devices[start:start + size]))
        start += size
        size = max(size + 1, math.ceil(size * growth)) if growth > 1.0 else size
    return waves


@dataclass
class WaveResult:
    devices: list[str]
    committed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # device -> error code (or "timeout")
    seconds: float = 0.0

    @property
    def failure_share(self) -> float:
        return len(self.failed) / len(self.devices) if self.devices else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"devices": len(self.devices), "committed": len(self.committed), "failed": dict(self.failed),
                "failure_share": round(self.failure_share, 4), "seconds": round(self.seconds, 3)}


@dataclass
class RolloutResult:
    update: str
    version: int
    waves: list[WaveResult]
    planned_waves: int
    stopped_after_wave: int | None  # 1-based; None: every wave ran

    @property
    def committed(self) -> int:
        return sum(len(w.committed) for w in self.waves)

    def to_dict(self) -> dict[str, Any]:
        return {"update": self.update, "version": self.version, "planned_waves": self.planned_waves,
                "waves": [w.to_dict() for w in self.waves], "committed": self.committed,
                "stopped_after_wave": self.stopped_after_wave}


class Rollout:
    """Publishes one signed update to ``devices`` wave by wave over the broker at ``host:port``."""

    def __init__(self, host: str, port: int, document: Mapping[str, Any], url: str, devices: Sequence[str], *,
                 prefix: str = "edge_sdk", canary: int = 1, growth: float = 2.0, max_failure_share: float = 0.0,
                 wave_timeout_s: float = 300.0, bundle_path: str | Path | None = None, username: str = "",
                 password: str = "", update_id: str | None = None, announce_retry_s: float = 5.0) -> None:
        if url == "mqtt" and bundle_path is None:
            raise ValueError("url 'mqtt' sends the bundle in chunks: bundle_path is needed")
        self.host, self.port, self.prefix = host, port, prefix
        self.document, self.url, self.bundle_path = dict(document), url, bundle_path
        self.waves = plan_waves(list(devices), canary, growth)
        self.max_failure_share, self.wave_timeout_s = max_failure_share, wave_timeout_s
        self.update_id = update_id or uuid.uuid4().hex[:12]
        self._auth = (username, password)
        self._verdicts: dict[str, str] = {}  # device -> "committed" or an error code
        self._heard: set[str] = set()  # devices that reported anything about this update
        self.announce_retry_s = announce_retry_s
        self._cond = threading.Condition()
        self._chunk_jobs: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self.version = int(self.document["signed"]["version"])

    def run(self) -> RolloutResult:
        mqtt = require("paho.mqtt.client", "edge-sdk rollout")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-sdk-rollout-{self.update_id}",
                             protocol=mqtt.MQTTv311)
        if self._auth[0]:
            client.username_pw_set(*self._auth)
        subscribed = threading.Event()
        client.on_connect = lambda c, *_: c.subscribe(f"{self.prefix}/+/update", qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = lambda _c, _u, message: self._on_report(message.topic, message.payload)
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        sender = threading.Thread(target=self._send_chunks, args=(client,), name="edge_sdk-rollout-chunks", daemon=True)
        sender.start()
        try:
            if not subscribed.wait(10.0):
                raise ConnectionError(f"rollout: no subscription on {self.host}:{self.port} within 10 s")
            results: list[WaveResult] = []
            stopped = None
            for number, devices in enumerate(self.waves, 1):
                wave = self._run_wave(client, devices)
                results.append(wave)
                _log.info("wave %d: %d committed, %d failed (%.0f%%)", number, len(wave.committed), len(wave.failed),
                          100 * wave.failure_share)
                if wave.failure_share > self.max_failure_share:
                    stopped = number
                    break
            return RolloutResult(self.update_id, self.version, results, len(self.waves), stopped)
        finally:
            self._chunk_jobs.put(None)
            sender.join(5.0)
            client.loop_stop()
            client.disconnect()

    def _run_wave(self, client: Any, devices: list[str]) -> WaveResult:
        started = time.monotonic()
        announcement = json.dumps({"id": self.update_id, "document": self.document, "url": self.url}).encode()
        for device in devices:
            client.publish(f"{self.prefix}/{device}/cmd/model", announcement, qos=1)
        deadline = started + self.wave_timeout_s
        next_retry = started + self.announce_retry_s
        with self._cond:
            while not all(d in self._verdicts for d in devices) and time.monotonic() < deadline:
                self._cond.wait(0.25)
                if time.monotonic() >= next_retry:  # not listening yet (starting up, reconnecting): once more
                    next_retry = time.monotonic() + self.announce_retry_s
                    for device in devices:
                        if device not in self._heard:
                            client.publish(f"{self.prefix}/{device}/cmd/model", announcement, qos=1)
            verdicts = {d: self._verdicts.get(d, "timeout") for d in devices}
        wave = WaveResult(devices, seconds=time.monotonic() - started)
        for device, verdict in verdicts.items():
            if verdict == "committed":
                wave.committed.append(device)
            else:
                wave.failed[device] = verdict
        return wave

    def _on_report(self, topic: str, payload: bytes) -> None:
        try:
            report = json.loads(payload)
        except ValueError:
            return
        if not isinstance(report, dict) or report.get("update") != self.update_id:
            return
        device = topic[len(self.prefix) + 1:].rsplit("/", 1)[0]
        step = report.get("step")
        with self._cond:
            self._heard.add(device)
        if step == "downloading" and self.bundle_path is not None:
            self._chunk_jobs.put((device, int(report.get("detail", {}).get("offset", 0))))
        elif step in ("committed", "refused", "rolled_back"):
            error = report.get("error") or {}
            with self._cond:  # the first verdict stands; a repeated report changes nothing
                self._verdicts.setdefault(device, "committed" if step == "committed" else str(error.get("code", step)))
                self._cond.notify_all()

    def _send_chunks(self, client: Any) -> None:
        while True:
            job = self._chunk_jobs.get()
            if job is None:
                return
            device, offset = job
            assert self.bundle_path is not None
            for message in chunk_messages(self.bundle_path, offset):
                client.publish(f"{self.prefix}/{device}/cmd/model_chunk", json.dumps(message).encode(), qos=1)
