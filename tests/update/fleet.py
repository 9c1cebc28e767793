"""Real device processes for the fleet and power-cut tests: ``edge-sdk run`` with an update section."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from releases import Keys

from edge_sdk.testing import MosquittoBroker

__all__ = ["DeviceProcess"]

ROOT = Path(__file__).resolve().parents[2]


class DeviceProcess:
    """One ``edge-sdk run`` at a low frame rate against ``broker``; its store lives in ``directory``."""

    def __init__(self, directory: Path, device: str, base: Path, keys: Keys, broker: MosquittoBroker, *,
                 fps: float = 2.0, **update: Any) -> None:
        self.directory, self.device = directory, device
        directory.mkdir(parents=True, exist_ok=True)
        sensor = directory / "sensor.jsonl"
        sensor.write_text('{"distance_cm": 80}\n')
        config = {
            "device": device, "model": {"path": str(base)},
            "camera": {"source": f"seek://?seconds=36000&fps={fps}&size=64"},
            "text": {"prompt": "find the red circle"},
            "sensor": {"source": "file", "path": str(sensor), "max_age_s": None},
            "output": {"snapshot_hz": 0},
            "pipeline": {"stats_interval_s": 0},
            "mqtt": {"host": broker.host, "port": broker.port, "delivery": "threads", "reconnect_min_s": 0.1,
                     "homeassistant": {"enabled": False}, "outbox": {"path": str(directory / "outbox.sqlite3")}},
            "update": {"store_dir": str(directory / "store"), "trusted_keys": [str(keys.public)], "shadow_frames": 3,
                       "health_frames": 4, "health_timeout_s": 60.0, "probe_timeout_s": 120.0, **update},
        }
        self.config_path = directory / "device.json"
        self.config_path.write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> DeviceProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = open(self.directory / f"run-{self.starts}.log", "wb")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config",
                                         str(self.config_path)], stdout=subprocess.DEVNULL, stderr=log, env=env)
        log.close()
        self.starts += 1
        return self

    def kill(self) -> None:
        """A power cut: SIGKILL, no cleanup of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10.0)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return (self.directory / f"run-{self.starts - 1}.log").read_text(errors="replace")[-3000:]
