"""Soak test of ``edge-sdk run`` (``make soak``): a long run against a broker that keeps going away.

Everything is real: a seek clip rendered by ``edge-sdk seek-clip`` played in a loop through OpenCV,
the shipped seek bundle, ``edge-sdk run`` as its own process (with its MQTT delivery process), a
Mosquitto restarted every ``SOAK_RESTART_S`` seconds (2 s down each time), the clip's command and
sensor traces sent as MQTT commands (text every 5 s, distance at 10 Hz), and a subscriber with a
persistent session counting distinct ``(boot, seq)`` of the results.

Samples the runtime's RSS, open file descriptors and threads (``/proc``, so Linux only) every 5 s;
"start" is the first sample after the first minute (or a fifth of a shorter run), when the
interpreter, the model and the outbox are warm. Prints a table, the run's own summary and every
counter of its last stats message, then as its last line one JSON object: ``rss_growth_pct``,
``fd_growth``, ``thread_growth``, ``sent`` (results the run published), ``received`` (distinct
``(boot, seq)`` at the subscriber) and more. Target (issue 15): RSS growth under 5 %, no fd or
thread growth, nothing lost.

    SOAK_S=300 SOAK_RESTART_S=60 make soak
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_sdk.testing import MosquittoBroker, MQTTRecorder

DEVICE = "soak-pi"
SAMPLE_S = 5.0
OUTAGE_S = 2.0
SENSOR_HZ = 10.0
TEXT_EVERY_S = 5.0


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"soak: {name} must be a number of seconds. Got: {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"soak: {name} must be positive. Got: {raw!r}")
    return value


# -- the process under test ----------------------------------------------------------------------
def _proc_sample(pid: int) -> dict[str, int] | None:
    """RSS (kB), threads and open fds of ``pid``; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]), "fds": fds}


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class Sampler(threading.Thread):
    """Samples the runtime and its delivery process every ``SAMPLE_S``."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, dict[str, int], dict[str, int] | None]] = []  # (t_s, runtime, child)
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_S):
            main = _proc_sample(self.pid)
            if main is None:
                return
            kids = _children(self.pid)
            child = _proc_sample(kids[0]) if kids else None
            self.samples.append((time.monotonic() - self._t0, main, child))

    def stop(self) -> None:
        self._halt.set()
        self.join(SAMPLE_S + 1)


# -- load: commands and readings over MQTT -------------------------------------------------------
class Commander(threading.Thread):
    """Sends the clip's sensor trace at 10 Hz and its commands every 5 s as MQTT commands (QoS 1)."""

    def __init__(self, broker: MosquittoBroker, sensor: list[dict[str, Any]], commands: list[str]) -> None:
        super().__init__(name="soak-commander", daemon=True)
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-commander",
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.2, 1.0)
        self.client.connect_async(broker.host, broker.port)
        self.client.loop_start()
        self.sensor, self.commands = sensor, commands
        self.sent = {"sensor": 0, "text": 0}
        self._halt = threading.Event()

    def run(self) -> None:
        base = f"edge_sdk/{DEVICE}/cmd"
        next_text_s = 0.0
        i = 0
        started = time.monotonic()
        while not self._halt.is_set():
            now = time.monotonic() - started
            reading = {k: v for k, v in self.sensor[i % len(self.sensor)].items() if k != "t_s"}
            self.client.publish(f"{base}/sensor", json.dumps(reading), qos=1)
            self.sent["sensor"] += 1
            if now >= next_text_s:
                self.client.publish(f"{base}/text", self.commands[self.sent["text"] % len(self.commands)], qos=1)
                self.sent["text"] += 1
                next_text_s = now + TEXT_EVERY_S
            i += 1
            self._halt.wait(1.0 / SENSOR_HZ)

    def stop(self) -> None:
        self._halt.set()
        self.join(2.0)
        self.client.loop_stop()
        self.client.disconnect()


# -- helpers -------------------------------------------------------------------------------------
def _slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t_s, value) in value per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600.0


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value


def _outbox(path: Path) -> dict[str, int]:
    if not path.exists():
        return {"rows": 0, "payload_bytes": 0, "file_bytes": 0}
    with sqlite3.connect(path) as db:
        rows, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
    files = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {"rows": int(rows), "payload_bytes": int(size), "file_bytes": files}


def _make_clip(workdir: Path) -> tuple[Path, list[dict[str, Any]], list[str]]:
    clip = workdir / "seek.mp4"
    subprocess.run([sys.executable, "-m", "edge_sdk.cli", "seek-clip", str(clip), "--seconds", "30", "--fps", "15",
                    "--size", "128", "--seed", "7"], cwd=ROOT, check=True, capture_output=True, text=True)
    sensor = [json.loads(line) for line in (workdir / "seek.sensor.jsonl").read_text().splitlines() if line.strip()]
    commands = [json.loads(line)["text"] for line in (workdir / "seek.commands.jsonl").read_text().splitlines()
                if line.strip()]
    return clip, sensor, commands


def main() -> int:
    duration_s = _env_seconds("SOAK_S", 1200.0)
    restart_s = _env_seconds("SOAK_RESTART_S", 180.0)
    warmup_s = min(60.0, duration_s / 5)
    workdir = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    clip, sensor, commands = _make_clip(workdir)
    broker = MosquittoBroker(workdir / "broker", persistence=True).start()
    # persistent session on a persistent broker: what is published while it reconnects is queued for it
    subscriber = MQTTRecorder(broker.host, broker.port, [f"edge_sdk/{DEVICE}/events", f"edge_sdk/{DEVICE}/stats"],
                              client_id="soak-subscriber", persistent_session=True).start()
    commander = Commander(broker, sensor, commands)
    commander.start()
    outbox = workdir / "outbox.sqlite3"
    config = workdir / "device.json"
    config.write_text(json.dumps({
        "device": DEVICE,
        "camera": {"source": f"file://{clip}", "loop": True},
        "text": {"source": "mqtt"},
        "sensor": {"source": "mqtt", "max_age_s": 2.0},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0,
                 "drain_timeout_s": 30.0, "outbox": {"path": str(outbox)}},
        "pipeline": {"stats_interval_s": 5.0},
    }))
    stderr_path = workdir / "run.stderr"
    with stderr_path.open("w") as stderr:
        run = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    sampler = Sampler(run.pid)
    sampler.start()
    print(f"soak: {duration_s:.0f} s, broker restarted every {restart_s:.0f} s ({OUTAGE_S:.0f} s down), "
          f"workdir {workdir}", file=sys.stderr)
    started = time.monotonic()
    restarts = 0
    next_restart_s = restart_s
    try:
        while (elapsed := time.monotonic() - started) < duration_s:
            if run.poll() is not None:
                raise SystemExit(f"soak: edge-sdk run exited early ({run.returncode}); see {stderr_path}")
            # no outage in the last 30 s: the run ends against a broker that is up
            if elapsed >= next_restart_s and duration_s - elapsed > 30.0:
                broker.stop()
                time.sleep(OUTAGE_S)
                broker.start()
                restarts += 1
                next_restart_s += restart_s
            time.sleep(0.5)
    finally:
        sampler.stop()
        run.send_signal(signal.SIGINT)  # first: whatever fails below, the run under test ends
        try:
            commander.stop()
        finally:
            try:
                run.wait(120)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait(10)
    err = stderr_path.read_text()
    summary_lines = [line for line in err.splitlines() if line.startswith("edge-sdk run:")]
    published = next((int(part.split("=")[1]) for line in summary_lines for part in line.split()
                      if part.startswith("published=") and part.split("=")[1].isdigit()), 0)

    def distinct() -> int:
        return len({(m.json()["boot"], m.json()["seq"]) for m in subscriber.on(f"edge_sdk/{DEVICE}/events")})

    subscriber.wait_for(lambda _: distinct() >= published, 30.0)
    received = distinct()
    stats_messages = subscriber.on(f"edge_sdk/{DEVICE}/stats")
    subscriber.close()
    broker.stop()

    samples = sampler.samples
    warm = [s for s in samples if s[0] >= warmup_s] or samples
    if not warm:
        raise SystemExit("soak: no samples of the run; is /proc readable?")
    first, last = warm[0], warm[-1]
    rss_start, rss_end = first[1]["rss_kb"], last[1]["rss_kb"]
    child_start = first[2]["rss_kb"] if first[2] else 0
    child_end = last[2]["rss_kb"] if last[2] else 0
    box = _outbox(outbox)
    counters: dict[str, Any] = {}
    if stats_messages:
        _flatten("", stats_messages[-1].json(), counters)
    figures = {
        "duration_s": round(time.monotonic() - started, 1),
        "broker_restarts": restarts,
        "rss_start_mb": round(rss_start / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "rss_growth_pct": round((rss_end - rss_start) / rss_start * 100.0, 2),
        "rss_slope_mb_per_h": round(_slope_per_hour([(t, m["rss_kb"] / 1024) for t, m, _ in warm]), 2),
        "delivery_rss_start_mb": round(child_start / 1024, 1),
        "delivery_rss_end_mb": round(child_end / 1024, 1),
        "delivery_rss_growth_pct": round((child_end - child_start) / child_start * 100.0, 2) if child_start else None,
        "fds_start": first[1]["fds"], "fds_end": last[1]["fds"], "fd_growth": last[1]["fds"] - first[1]["fds"],
        "threads_start": first[1]["threads"], "threads_end": last[1]["threads"],
        "thread_growth": last[1]["threads"] - first[1]["threads"],
        "outbox_rows": box["rows"], "outbox_payload_bytes": box["payload_bytes"], "outbox_file_bytes": box["file_bytes"],
        "sensor_sent": commander.sent["sensor"], "text_sent": commander.sent["text"],
        "sent": published, "received": received, "lost": max(published - received, 0),
        "exit_code": run.returncode,
    }
    print("\nsoak figures (the machine may be shared: timings are noisy)")
    for key, value in figures.items():
        print(f"  {key:<26} {value}")
    print("\nthe run's summary")
    for line in summary_lines:
        print("  " + line)
    print("\nevery counter of the run's last stats message")
    for key, value in sorted(counters.items()):
        print(f"  {key:<48} {value}")
    print(json.dumps(figures))
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
