"""The seek robot demo: the whole loop on one machine, as ``edge-sdk demo`` (and ``make demo``) runs it.

::

    seek clip (video + commands + distance trace)          ground truth per frame ──────┐
      video ──▶ camera (file://, realtime playback) ─┐                                  │
      commands ──▶ demo app ──MQTT cmd/text──▶ text  ├─▶ fused int8 model ─▶ result ─┬─▶ MQTT events ─▶ demo app: score
      distance trace ──▶ C firmware simulator on a pty ══serial protocol══▶ sensor ┘  └─▶ action rules ══▶ motor commands ─▶ simulator

Three timelines must agree for the decisions to be scorable: the video (paced from its first
frame), the text commands, and the simulator's distance trace (which runs from the simulator's
start). The simulator is started first with its trace shifted by ``lead_s``; the runtime is
built meanwhile, and the video is started when the shifted trace reaches its time zero. The demo
app sends each command on the same schedule, so all three start together.

While it runs, the demo serves the live dashboard page (``edge_sdk.dashboard``) subscribed to its
broker, which listens for MQTT over WebSockets too; :attr:`SeekDemo.endpoints` says where.

The library part logs and never prints: :class:`SeekDemo` reports through callbacks and returns
the summary; ``edge_sdk.demo.cli`` does the printing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk.demo.metrics import load_truth, percentile_ms, score
from edge_sdk.demo.seek import ClipPaths, SeekClip, write_clip
from edge_sdk.demo.subscriber import DemoSubscriber, Receipt
from edge_sdk.errors import ConfigError, EdgeSDKError

__all__ = ["DEMO_ACTIONS", "DemoOptions", "Endpoints", "Progress", "SeekDemo"]

_log = logging.getLogger(__name__)

# Motor values in permille of full speed, per wheel: what the robot does for each decision.
DEMO_ACTIONS: dict[str, dict[str, int]] = {
    "left": {"motor_left": -300, "motor_right": 300},  # turn left, on the spot
    "right": {"motor_left": 300, "motor_right": -300},
    "center": {"motor_left": 600, "motor_right": 600},  # forward
    "absent": {"motor_left": 150, "motor_right": -150},  # spin slowly, searching
    "blocked": {"motor_left": 0, "motor_right": 0},
}
_SIM_TRACE_MAX_POINTS = 4000  # bp_sim keeps at most 4096 trace points
_COMMAND_EARLY_S = 0.03  # a command must be in the text slot before the frame that needs it


@dataclass(frozen=True)
class DemoOptions:
    seconds: float = 60.0
    fps: float = 15.0
    size_px: int = 192
    seed: int = 0
    workdir: Path = Path("work/demo")
    model_path: str = ""  # empty: the seek bundle shipped with edge_sdk
    device: str = "seek-demo"
    lead_s: float = 1.5  # simulator start to video start: building the runtime takes about 0.6 s
    min_confidence: float = 0.5
    drain_timeout_s: float = 10.0  # after the run, wait this long for the last results to arrive
    broker: str = "amqtt"  # amqtt: the runtime's embedded broker; mosquitto: a local Mosquitto, to compare
    dashboard_port: int = 8080  # the live dashboard's HTTP port; taken or 0: a free one


@dataclass(frozen=True)
class Endpoints:
    """Where to watch the demo while it runs: the dashboard page and the broker (MQTT and WebSockets)."""

    dashboard_url: str
    broker_url: str
    broker_ws_url: str
    topics: str


@dataclass(frozen=True)
class Progress:
    """What the loop is doing, once a second."""

    elapsed_s: float
    seconds: float
    results: int
    fps: float
    received: int
    commands_acked: int
    action: str | None
    motors: dict[str, int]


class SeekDemo:
    """Runs the demo once: ``summary = SeekDemo(DemoOptions(seconds=10)).run()``."""

    def __init__(self, options: DemoOptions, *, on_change: Callable[[Receipt], None] | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_ready: Callable[[Endpoints], None] | None = None) -> None:
        self.options = options
        self._on_change = on_change
        self._on_progress = on_progress
        self._on_ready = on_ready  # once the dashboard and the broker answer, before the video starts
        self.endpoints: Endpoints | None = None
        self._media_by_frame_ts: dict[float, float] = {}
        self._stop = threading.Event()
        self.runtime: Any = None
        self.simulator: Any = None
        self.subscriber: DemoSubscriber | None = None

    # -- the clip -------------------------------------------------------------------------------
    def prepare_clip(self) -> ClipPaths:
        """Write the seek clip and its traces, or reuse an identical one from an earlier run."""
        o = self.options
        video = o.workdir / "seek.avi"  # MJPG: OpenCV writes and reads it without extra codecs
        stem = video.with_suffix("")
        paths = ClipPaths(video, Path(f"{stem}.truth.jsonl"), Path(f"{stem}.commands.jsonl"),
                          Path(f"{stem}.sensor.jsonl"))
        stamp = o.workdir / ".clip"
        key = json.dumps({"seconds": o.seconds, "fps": o.fps, "size": o.size_px, "seed": o.seed, "v": 1})
        if stamp.is_file() and stamp.read_text() == key and all(Path(p).is_file() for p in dataclasses.astuple(paths)):
            _log.info("reusing the seek clip in %s", o.workdir)
            return paths
        started_s = time.monotonic()
        paths = write_clip(video, SeekClip(seconds=o.seconds, fps=o.fps, size=o.size_px, seed=o.seed))
        stamp.write_text(key)
        _log.info("wrote a %.0f s seek clip to %s in %.1f s", o.seconds, video, time.monotonic() - started_s)
        return paths

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run the loop for the clip's length; returns the summary (``ok`` False when a stage failed)."""
        from edge_sdk.sources.text import load_command_trace
        from firmware_bridge.tools import HostSimulator, build_host_tools

        o = self.options
        if o.model_path and not Path(o.model_path).is_file():
            raise ConfigError(f"model: bundle not found: {o.model_path}")
        paths = self.prepare_clip()
        truth = load_truth(paths.truth, o.fps)
        commands = load_command_trace(paths.commands)
        build_host_tools()  # compiled once and cached; not part of the lead time
        error: str | None = None
        stats: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            spawned_s = time.monotonic()  # bp_sim's trace clock starts a few ms after this
            self.simulator = stack.enter_context(HostSimulator(trace=_sim_trace(paths.sensor, o.lead_s)))
            from edge_sdk.runtime import Runtime

            broker = stack.enter_context(self._broker())
            dashboard = stack.enter_context(self._dashboard(broker))
            self.runtime = stack.enter_context(Runtime(self._device_config(self.simulator.port, broker),
                                                       on_result=self._record_result))
            runtime = self.runtime
            self.subscriber = stack.enter_context(DemoSubscriber(
                broker.host, broker.port, o.device, on_change=self._on_change, protocol=self._protocol()))
            self.subscriber.watch_boot(runtime.publisher.boot)
            runtime.publisher.wait_connected(10.0)
            self.endpoints = Endpoints(dashboard.url, f"mqtt://{broker.host}:{broker.port}",
                                       f"ws://{broker.host}:{broker.ws_port}/", f"edge_sdk/{o.device}/#")
            if self._on_ready is not None:
                self._on_ready(self.endpoints)
            start_s = spawned_s + o.lead_s
            late_s = time.monotonic() - start_s
            if late_s > 0:
                _log.warning("the runtime took %.1f s to start, more than lead_s=%.1f s: the distance trace "
                             "runs %.0f ms ahead of the video", o.lead_s + late_s, o.lead_s, late_s * 1000)
                start_s = time.monotonic()
            operator = threading.Thread(target=self._operate, args=(commands, start_s), name="seek-demo-operator",
                                        daemon=True)
            ticker = threading.Thread(target=self._tick, args=(start_s,), name="seek-demo-progress", daemon=True)
            operator.start()
            self._wait_first_command(commands[0][1] if commands else "")
            time.sleep(max(0.0, start_s - time.monotonic()))
            ticker.start()
            try:
                stats = runtime.run()
            except EdgeSDKError as exc:  # a failed stage: report it with what was measured so far
                _log.error("the run failed: %s", exc)
                error = str(exc)
                stats = runtime.summary()
            finally:
                self._stop.set()
            published = int(stats.get("published", 0))
            if not self.subscriber.wait_received(published, o.drain_timeout_s):
                _log.warning("received %d of %d results within %.0f s", self.subscriber.received, published,
                             o.drain_timeout_s)
            operator.join(1.0)
            ticker.join(2.0)
            runtime.close()  # sends the safe command last, so it shows in the command counts
        return self._summary(stats, truth, error, max(0.0, late_s))

    def stop(self) -> None:
        """End the run early (from another thread)."""
        self._stop.set()
        if self.runtime is not None:
            self.runtime.stop()

    def _broker(self) -> Any:
        """The embedded amqtt broker, as ``edge-sdk run`` starts it without an mqtt section, or Mosquitto.

        The demo owns it rather than the runtime, so the runtime's outbox can live in the work dir:
        the default outbox is one file per device id, locked by its runtime, and a second demo (a
        test while ``make demo`` runs) would find it in use.
        """
        if self.options.broker == "mosquitto":
            from edge_sdk.testing.mosquitto import MosquittoBroker

            return MosquittoBroker(self.options.workdir / "mosquitto", websockets=True)
        from edge_sdk.sinks.mqtt.broker import EmbeddedBroker

        # free ports: never collides with a broker already on 1883; WebSockets for the dashboard page
        return EmbeddedBroker(port=0, ws_port=0)

    def _dashboard(self, broker: Any) -> Any:
        """The live dashboard page, started, subscribed to the demo's broker over WebSockets; on a free
        port when ``dashboard_port`` is taken (an ``edge-sdk dashboard`` already running, say)."""
        from edge_sdk.dashboard.server import DashboardConfig, DashboardServer

        config = DashboardConfig(ws_url=f"ws://{broker.host}:{broker.ws_port}/", device=self.options.device)
        try:
            return DashboardServer(config, "127.0.0.1", self.options.dashboard_port).start()
        except OSError as exc:
            _log.info("%s; serving the dashboard on a free port instead", exc)
            return DashboardServer(config, "127.0.0.1", 0).start()

    def _protocol(self) -> str:
        return "5" if self.options.broker == "mosquitto" else "3.1.1"  # amqtt speaks 3.1.1 only

    def _device_config(self, port: str, broker: Any) -> Any:
        from edge_sdk.config import parse_config

        o = self.options
        rules = [{"label": label, "commands": commands, "min_confidence": o.min_confidence}
                 for label, commands in DEMO_ACTIONS.items()]
        return parse_config({
            "device": o.device,
            "model": {"path": o.model_path},
            "camera": {"source": f"file://{(o.workdir / 'seek.avi').resolve()}", "playback": "realtime"},
            "text": {"source": "mqtt"},  # the demo app sends the commands, as a phone would
            "sensor": {"source": "bridge", "max_age_s": 0.5},
            "pipeline": {"publish": "every", "stats_interval_s": 5.0},
            "bridge": {"url": port},
            "actions": {"rules": rules, "safe_command": {"motor_left": 0, "motor_right": 0}, "stale_after_s": 0.5},
            "mqtt": {"host": broker.host, "port": broker.port, "protocol": self._protocol(),
                     "outbox": {"path": str((o.workdir / "outbox.sqlite3").resolve())}},
        })

    def _record_result(self, result: Any) -> None:
        if result.media_t_s is not None:
            self._media_by_frame_ts[round(result.frame_ts, 4)] = result.media_t_s

    def _wait_first_command(self, text: str, timeout_s: float = 5.0) -> None:
        """The first command must reach the runtime before the first frame, or frames are skipped."""
        if not text:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.runtime.publisher.stats()["commands"].get("handled", 0) >= 1:
                return
            time.sleep(0.02)
        _log.warning("the first command did not reach the runtime within %.0f s", timeout_s)

    def _operate(self, commands: list[tuple[float, str]], start_s: float) -> None:
        """Send each command of the trace at its time on the video's timeline."""
        assert self.subscriber is not None
        for index, (t_s, text) in enumerate(commands):
            delay_s = start_s + t_s - _COMMAND_EARLY_S - time.monotonic()
            if index and self._stop.wait(max(0.0, delay_s)):
                return
            if not self.subscriber.send_command("text", text):
                _log.warning("command %r was not acknowledged by the broker", text)

    def _tick(self, start_s: float) -> None:
        while not self._stop.wait(1.0):
            if self._on_progress is None:
                continue
            try:
                self._on_progress(self._progress(start_s))
            except Exception:  # noqa: BLE001 - a progress display must never stop the demo
                _log.exception("progress callback failed")

    def _progress(self, start_s: float) -> Progress:
        runtime, subscriber = self.runtime, self.subscriber
        stats = runtime.pipeline.stats()
        actions = runtime.actions.stats() if runtime.actions is not None else None
        return Progress(
            elapsed_s=time.monotonic() - start_s, seconds=self.options.seconds, results=int(stats["results"]),
            fps=float(stats["fps_recent"]), received=subscriber.received if subscriber else 0,
            commands_acked=actions.commands_acked if actions else 0,
            action=actions.current_action if actions else None, motors=self.simulator.actuator_state(),
        )

    # -- the summary ----------------------------------------------------------------------------
    def _summary(self, stats: dict[str, Any], truth: Any, error: str | None, late_s: float) -> dict[str, Any]:
        assert self.subscriber is not None
        receipts = self.subscriber.receipts()
        decisions = [(self._media_by_frame_ts[round(r.frame_ts, 4)], r.label) for r in receipts
                     if round(r.frame_ts, 4) in self._media_by_frame_ts]
        scored = score(decisions, truth)
        latencies = [r.latency_ms for r in receipts]
        actions = self.runtime.actions.stats() if self.runtime.actions is not None else None
        published = int(stats.get("published", 0))
        mqtt = stats.get("mqtt", {})
        bridge = stats.get("bridge", {})
        return {
            "published": published,
            "received": self.subscriber.received,
            "accuracy": None if scored.accuracy is None else round(scored.accuracy, 4),
            "scored": scored.scored,
            "fps": stats.get("fps"),
            "latency_p50_ms": percentile_ms(latencies, 50),
            "latency_p99_ms": percentile_ms(latencies, 99),
            "commands_sent": actions.commands_sent if actions else 0,
            "commands_acked": actions.commands_acked if actions else 0,
            "commands_failed": actions.commands_failed if actions else 0,
            "safe_stops": actions.safe_stops if actions else 0,
            "mcu_actuator_changes": len(self.simulator.actuator_events()),
            "sensor_frames": bridge.get("sensor_frames", bridge.get("frames_ok")),
            "frames_read": stats.get("capture", {}).get("frames_read"),
            "frames_dropped": stats.get("drops", {}).get("frames"),
            "incomplete_inputs": stats.get("drops", {}).get("incomplete_inputs"),
            "mqtt_acked": mqtt.get("acked"),
            "duplicates": self.subscriber.duplicates,
            "invoke_p50_ms": stats.get("stages", {}).get("invoke", {}).get("p50_ms"),
            "start_late_ms": round(late_s * 1000.0, 1),
            "confusion": {f"{t}->{d}": n for (t, d), n in sorted(scored.confusion.items())},
            "broker": "amqtt (embedded)" if self.options.broker == "amqtt" else "mosquitto (local)",
            "error": error,
        }


def _sim_trace(sensor_trace: Path, lead_s: float) -> list[tuple[float, float]]:
    """The clip's distance trace on the simulator's clock: shifted by ``lead_s``, thinned to fit."""
    points = []
    with sensor_trace.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                record = json.loads(line)
                points.append((round((lead_s + float(record["t_s"])) * 1000.0, 1), float(record["distance_cm"])))
    stride = max(1, -(-len(points) // _SIM_TRACE_MAX_POINTS))
    return points[::stride]
