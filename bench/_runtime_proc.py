"""Driving ``edge-sdk run`` as a separate process for ``bench/runtime.py``: configs, pinning, RSS, summary.

The bench measures the runtime from outside, as a user would run it: ``python -m edge_sdk.cli run
--config device.json``, results read back from a real Mosquitto by a subscriber in the bench.

CPU time of a run, for ``overhead_cpu_us_per_result``: :class:`CPURecorder` reads the CPU time of
the runtime and of its children (the MQTT delivery process, the capture process) from ``/proc`` each time a stats
message arrives, so the CPU spent between two stats messages can be divided by the results
published between them: the steady state, without the interpreter's start-up and the drain at
exit. :meth:`RuntimeProcess.wait` also keeps the whole run's ``rusage`` (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_sdk.testing import MQTTRecorder

REPO = Path(__file__).resolve().parents[1]
_SUMMARY = re.compile(r"^edge-sdk run: results=(\d+) published=(\d+) fps=([\d.]+)")
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_CAPTURE_CHILD = "edge_sdk.pipeline.capture_child"  # the capture process's command line (camera.capture: process)


def pinned(command: list[str], core: int | None) -> list[str]:
    """``command`` run on one core (with every thread it starts) via ``taskset -c``; unchanged for None."""
    return command if core is None else ["taskset", "-c", str(core), *command]


def device_config(path: Path, *, device: str, camera: Mapping[str, Any], text: Mapping[str, Any] | None,
                  sensor: Mapping[str, Any] | None, mqtt: Mapping[str, Any], pipeline: Mapping[str, Any] | None = None,
                  model: Mapping[str, Any] | None = None) -> Path:
    """Write a JSON device config (``load_config`` reads JSON; no YAML quoting of paths). ``text`` and
    ``sensor`` None: no such source (an image-only model); ``model`` None: the shipped seek bundle."""
    config: dict[str, Any] = {"device": device, "camera": dict(camera), "pipeline": dict(pipeline or {}),
                              "mqtt": dict(mqtt)}
    for key, section in (("text", text), ("sensor", sensor), ("model", model)):
        if section is not None:
            config[key] = dict(section)
    path.write_text(json.dumps(config, indent=1))
    return path


@dataclass
class FinishedRun:
    """What :func:`run_to_final_stats` read of one ``edge-sdk run``."""

    process: RuntimeProcess
    summary: dict[str, float]  # the exit line
    final: dict[str, Any] | None  # the stats message counting every result; None if none arrived
    cpu: dict[str, Any] | None  # steady_cpu_per_result_us of the stats messages
    received: int | None  # messages on ``count_topic`` at the subscriber (None: not subscribed)


def run_to_final_stats(host: str, port: int, config: Path, log_path: Path, *, device: str, pin_core: int | None,
                       timeout_s: float, count_topic: str | None = None) -> FinishedRun:
    """Run ``edge-sdk run`` on ``config`` to its end, reading its stats topic (and, with ``count_topic``, how
    many messages arrived there) with a subscriber of its own; raises with the log's tail if it fails.

    Only the stats topic unless asked: a subscriber to every event competes for the same cores, while
    Mosquitto still receives and acknowledges every event (the publisher's outbox cost counts)."""
    stats_topic = f"edge_sdk/{device}/stats"
    topics = [stats_topic] if count_topic is None else [stats_topic, count_topic]
    with CPURecorder(host, port, topics, stats_topic) as recorder:
        process = recorder.process = RuntimeProcess(config, log_path, pin_core=pin_core)
        code = process.wait(timeout_s)
        if code != 0:
            raise RuntimeError(f"edge-sdk run exited with {code}:\n{process.log_text()[-3000:]}")
        summary = process.summary()
        recorder.wait_for(lambda m: any(x.topic == stats_topic and x.json().get("results") == summary.get("results")
                                        for x in m), 5.0)
        received = None
        if count_topic is not None:
            recorder.wait_for(lambda m: sum(x.topic == count_topic for x in m) >= summary["published"], 10.0)
            received = len(recorder.on(count_topic))
        stats = [m.json() for m in recorder.on(stats_topic)]
        cpu = steady_cpu_per_result_us(recorder.samples)
    final = next((s for s in reversed(stats) if s.get("results") == summary.get("results")), None)
    return FinishedRun(process, summary, final, cpu, received)


def mqtt_section(host: str, port: int, outbox_path: Path) -> dict[str, Any]:
    # reconnect_max_s shorter than the 30 s default so that the 10 s outage does not end in a long
    # backoff sleep that would only stretch the bench; nothing else differs from a deployment
    return {"host": host, "port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0,
            "outbox": {"path": str(outbox_path)}}


class RuntimeProcess:
    """One ``edge-sdk run`` child; stderr goes to a log file, parsed for the exit summary."""

    def __init__(self, config: Path, log_path: Path, *, pin_core: int | None = None) -> None:
        self.config, self.log_path = config, log_path
        self._log = log_path.open("wb")
        self.started_wall_s = time.time()  # process start, for first_result_s (same clock as the subscriber)
        self.rusage_cpu_s: float | None = None  # user + system CPU of the whole run and its children, at exit
        self._child_cpu_s: dict[int, tuple[bool, float]] = {}  # pid -> (capture process?, last CPU seconds read)
        self._reaped_pids: set[int] = set()  # children whose whole CPU time came from the runtime's reaped count
        self._reaped_s = 0.0  # the runtime's CPU seconds of reaped children, when last read
        self.process = subprocess.Popen(
            pinned([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)], pin_core),
            stdout=subprocess.DEVNULL, stderr=self._log, cwd=str(REPO),
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float | None:
        """VmHWM: the peak resident set of the process so far (None once it has exited)."""
        return _vm_hwm_mb(self.pid)

    def children_peak_rss_mb(self) -> float:
        """Sum of VmHWM of the run's child processes (the MQTT delivery process, the capture process)."""
        return sum(_vm_hwm_mb(pid) or 0.0 for pid in _children(self.pid))

    def cpu_s(self) -> tuple[float, float, float] | None:
        """CPU seconds so far (user + system) of the runtime, of its children other than the capture process
        (MQTT delivery, resource tracker) and of the capture process; None once it exited.

        A child that has ended is read from the runtime's own count of its reaped children (``cutime`` and
        ``cstime``), which grows by a child's whole CPU time when it is reaped: the capture process ends
        with the video, before the last stats message, and its last reading would miss what it used
        after the one before."""
        times = _cpu_times(self.pid)
        if times is None:
            return None
        own, reaped = times
        live: dict[int, float] = {}
        for pid in _children(self.pid):
            cpu = _cpu_s(pid)
            if cpu is not None:
                live[pid] = cpu
                self._child_cpu_s[pid] = (self._child_cpu_s.get(pid, (_CAPTURE_CHILD in _cmdline(pid), 0.0))[0], cpu)
        gone = [pid for pid in self._child_cpu_s if pid not in live and pid not in self._reaped_pids]
        if gone and reaped > self._reaped_s:
            last = sum(self._child_cpu_s[pid][1] for pid in gone) or 1.0
            for pid in gone:  # shared by their last readings when several ended between two messages
                is_capture, cpu = self._child_cpu_s[pid]
                self._child_cpu_s[pid] = (is_capture, (reaped - self._reaped_s) * (cpu or 1.0) / last)
            self._reaped_pids.update(gone)
            self._reaped_s = reaped
        others = sum(cpu for is_capture, cpu in self._child_cpu_s.values() if not is_capture)
        capture = sum(cpu for is_capture, cpu in self._child_cpu_s.values() if is_capture)
        return own, others, capture

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit (``os.wait4``, which also gives the run's CPU time with its reaped children)."""
        try:
            if self.process.returncode is not None:
                return self.process.returncode
            deadline = time.monotonic() + timeout_s
            while True:
                pid, status, usage = os.wait4(self.pid, os.WNOHANG)
                if pid == self.pid:
                    self.rusage_cpu_s = usage.ru_utime + usage.ru_stime
                    self.process.returncode = os.waitstatus_to_exitcode(status)
                    return self.process.returncode
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"edge-sdk run did not end within {timeout_s} s; log: {self.log_path}")
                time.sleep(0.02)
        finally:
            self._log.close()

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (a clean stop: the publisher drains its outbox) and wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def kill(self, children_timeout_s: float = 10.0) -> None:
        """SIGKILL: no cleanup at all, as an OOM kill or a power cut of the process would be. Returns once its
        children have ended too: the MQTT delivery process commits what it still had and exits, and an
        outbox read before that may find its WAL file half gone."""
        children = _children(self.pid)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        deadline_s = time.monotonic() + children_timeout_s
        while any(_running(pid) for pid in children) and time.monotonic() < deadline_s:
            time.sleep(0.02)
        self._log.close()

    def summary(self) -> dict[str, float]:
        """``results``, ``published``, ``fps`` from the exit line, {} if the run did not print it."""
        for line in reversed(self.log_text().splitlines()):
            match = _SUMMARY.match(line)
            if match:
                return {"results": int(match.group(1)), "published": int(match.group(2)), "fps": float(match.group(3))}
        return {}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def outbox_last_seq(outbox_path: Path, boot: str) -> int:
    """Highest ``seq`` of ``boot`` left in an outbox file after its process was killed (0 if none).

    Reads a copy (database and WAL), so the runtime that reopens the real file later recovers it
    untouched, exactly as it would after a crash.
    """
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-outbox-copy-") as tmp:
        copy = Path(tmp) / outbox_path.name
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{outbox_path}{suffix}")
            if source.exists():
                shutil.copy2(source, f"{copy}{suffix}")
        db = sqlite3.connect(copy)
        try:
            row = db.execute("SELECT max(seq) FROM outbox WHERE boot = ?", (boot,)).fetchone()
        finally:
            db.close()
    return int(row[0] or 0)


def tensorflow_rss_mb(timeout_s: float = 180.0) -> float | None:
    """Peak RSS of a process that only imports TensorFlow (None if it is not installed)."""
    code = ("import re, pathlib, tensorflow\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', pathlib.Path('/proc/self/status').read_text()).group(1)))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s, env=env,
                          check=False)
    if done.returncode != 0:
        return None
    return int(done.stdout.split()[-1]) / 1024


class CPURecorder(MQTTRecorder):
    """An :class:`MQTTRecorder` that also notes the CPU time of a run's processes at each stats message."""

    def __init__(self, host: str, port: int, topics: list[str], stats_topic: str) -> None:
        super().__init__(host, port, topics)
        self.stats_topic = stats_topic
        self.process: RuntimeProcess | None = None
        # (stats, runtime CPU s, other children's CPU s, capture process CPU s)
        self.samples: list[tuple[dict[str, Any], float, float, float]] = []

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        process = self.process
        cpu = process.cpu_s() if process is not None and message.topic == self.stats_topic else None
        if cpu is not None:
            self.samples.append((json.loads(message.payload), *cpu))
        super()._on_message(client, userdata, message)


def steady_cpu_per_result_us(samples: list[tuple[dict[str, Any], float, float, float]]) -> dict[str, Any] | None:
    """CPU microseconds per published result between the first and the last stats message of the running
    pipeline (total, runtime process, delivery process, capture process); None with fewer than two such messages."""
    running = [s for s in samples if s[0].get("state") == "running" and s[0].get("published")]
    if len(running) < 2:
        return None
    (first, own0, kids0, cap0), (last, own1, kids1, cap1) = running[0], running[-1]
    results = last["published"] - first["published"]
    if results <= 0:
        return None
    own_us, kids_us = (own1 - own0) / results * 1e6, (kids1 - kids0) / results * 1e6
    capture_us = (cap1 - cap0) / results * 1e6
    return {"cpu_us_per_result": round(own_us + kids_us + capture_us, 1), "runtime_cpu_us_per_result": round(own_us, 1),
            "delivery_cpu_us_per_result": round(kids_us, 1), "capture_cpu_us_per_result": round(capture_us, 1),
            "window_results": results,
            "window_messages": len(running)}


def _cpu_s(pid: int) -> float | None:
    """utime + stime of one process (all its threads) from ``/proc/<pid>/stat``, in seconds."""
    times = _cpu_times(pid)
    return None if times is None else times[0]


def _cpu_times(pid: int) -> tuple[float, float] | None:
    """(utime + stime, cutime + cstime: of its children it has reaped) from ``/proc/<pid>/stat``, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return ((int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S,
            (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS_PER_S)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's end is reaped by init, maybe not at once)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids
