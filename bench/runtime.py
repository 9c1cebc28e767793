"""Benchmark of the device runtime (``make bench-runtime``): the seek int8 bundle on a seek video,
``edge-sdk run`` publishing to a real Mosquitto, measured from outside by a subscriber.

Prints progress on stderr, a table on stdout, and as its last line one JSON object:

- throughput (every_frame playback, as fast as possible): ``results_per_s`` of ``edge-sdk run`` and
  the rate of each stage run alone in its own process with the same code (``_runtime_stages.py``:
  the ``open_frame_source().read()`` loop; ``prepare``+``infer``+``decode`` on decoded frames).
  ``pipeline_efficiency`` = results/s over the slower stage's rate alone (both cores);
  ``pipeline_efficiency_1core`` = results/s over 1 / (t_capture + t_infer), with the runtime and
  the stages each pinned to core 0, where nothing can overlap. publish=every is the headline;
  publish=change is reported beside it because the difference is the publishing cost, and
  and each core count is also run with the other ``mqtt.delivery`` (the default ``auto`` picks the
  delivery process on 2 cores, threads on 1) for the process's gain or cost, and with
  ``camera.capture: process`` (capture and decode in a process of their own) beside the default
  capture thread;
- ``overhead_cpu_us_per_result``: the CPU time of the whole runtime (its process and its children:
  the MQTT delivery process, the capture process) per published result, read from ``/proc`` at each stats message (every
  ``stats_interval_s``) and taken between the first and the last one of the running pipeline, minus
  the CPU time per frame of capture+decode and preprocess+invoke+decode run alone on the same
  frames and cores (``_runtime_stages.py``): what the pipeline's hand-offs, the result, its payload,
  JSON, the stamp, the outbox and paho cost per result; for each run of the throughput rounds;
- latency (realtime playback, camera-like): frame capture (``inputs.frame_ts``) to the message
  received by the subscriber, same machine clock; ``latency_excess_p50_ms`` = p50 - median invoke;
- ``rss_mb`` (peak VmHWM of the runtime plus its MQTT delivery process) and ``first_result_s`` (process start to the first result received) of
  that run, and ``tf_rss_mb`` of a process that only imports TensorFlow;
- ``outage_*``: Mosquitto stopped for 10 s mid-run and restarted on the same port;
  ``crash_*``: the runtime SIGKILLed while the broker is down, restarted on the same outbox;
  both counted as distinct (boot, seq) by a persistent-session subscriber;
- ``outbox_qos1_ratio`` from ``bench/outbox.py`` against the same broker;
- ``realistic_efficiency`` (and ``_1core``, ``_capture_process``): the same ratio for a detector of
  real size (BlazeFace's layout, 1-3 ms an invoke) over a 640x480 video, every result published
  and counted at a subscriber (``_runtime_realistic.py``; not in ``--quick``).

The machine may be shared, so every throughput figure is a ratio of runs made side by side,
interleaved over rounds (medians), and the load average is printed with the figures.

    .venv/bin/python bench/runtime.py [--quick] [--rounds 3] [--workdir work/bench-runtime]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runtime_proc import (
    REPO,
    RuntimeProcess,
    device_config,
    mqtt_section,
    outbox_last_seq,
    pinned,
    run_to_final_stats,
    tensorflow_rss_mb,
)
from _runtime_realistic import RealisticBench, ensure_bundle, ensure_video
from _runtime_realistic import table_rows as realistic_rows

from edge_sdk.demo.seek import SeekClip, write_clip
from edge_sdk.runtime import default_bundle_path
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

FPS = 15.0
PROMPT = "find the red circle"
TARGETS = {"pipeline_efficiency": 0.85, "pipeline_efficiency_1core": 0.85, "latency_excess_p50_ms": 5.0,
           "rss_mb": 150.0, "first_result_s": 2.0, "outbox_qos1_ratio": 0.9, "overhead_cpu_us_per_result": 150.0}


# -- setup ----------------------------------------------------------------------------------------
def ensure_clip(workdir: Path, seconds: float, seed: int = 1, size: int | None = None) -> Path:
    """The seek video (default size, or ``size`` x ``size``) with its .commands/.sensor traces, written once and reused."""
    video = workdir / f"seek-{seconds:g}s-{FPS:g}fps-seed{seed}{'' if size is None else f'-{size}px'}.mp4"
    traces = [video.with_suffix(".commands.jsonl"), video.with_suffix(".sensor.jsonl")]
    if not (video.exists() and all(p.exists() for p in traces)):
        tqdm.write(f"writing {video} ({seconds:g} s at {FPS:g} fps), once")
        partial = workdir / f"partial-{video.name}"
        clip = SeekClip(seconds=seconds, fps=FPS, seed=seed) if size is None else SeekClip(
            seconds=seconds, fps=FPS, seed=seed, size=size)
        paths = write_clip(partial, clip)
        for source, target in ((paths.commands, traces[0]), (paths.sensor, traces[1]),
                               (paths.truth, video.with_suffix(".truth.jsonl")), (paths.video, video)):
            source.replace(target)  # the video last: its presence means the set is complete
    return video


def trace_inputs(video: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Text and sensor from the clip's own traces: what the seek demo runs on."""
    return ({"source": "file", "path": str(video.with_suffix(".commands.jsonl"))},
            {"source": "file", "path": str(video.with_suffix(".sensor.jsonl"))})


def constant_inputs(workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fixed prompt and one distance reading that never expires: for runs that loop the video
    for as long as an outage lasts (trace replays end with the clip's first pass)."""
    reading = workdir / "distance.jsonl"
    reading.write_text(json.dumps({"distance_cm": 80.0, "ts": 1_000_000_000.0}) + "\n")
    return {"source": "fixed", "prompt": PROMPT}, {"source": "file", "path": str(reading), "max_age_s": None}


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, broker: MosquittoBroker, video: Path) -> None:
        self.args, self.workdir, self.broker, self.video = args, workdir, broker, video
        self.runs = 0
        self.loads: list[float] = []

    def _name(self, kind: str) -> str:
        self.runs += 1
        return f"bench-{kind}-{self.runs}"

    def _mqtt(self, device: str) -> dict[str, Any]:
        return mqtt_section(self.broker.host, self.broker.port, self.workdir / f"outbox-{device}-{time.time_ns()}.sqlite3")

    def note_load(self) -> None:
        self.loads.append(os.getloadavg()[0])

    # -- throughput --------------------------------------------------------------------------------
    def stages_alone(self, pin_core: int | None) -> dict[str, Any]:
        command = [sys.executable, str(REPO / "bench" / "_runtime_stages.py"), "--video", str(self.video),
                   "--frames", str(self.args.stage_frames)]
        done = subprocess.run(pinned(command, pin_core), capture_output=True, text=True, cwd=str(REPO), timeout=300,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"stages alone failed: {done.stderr[-2000:]}")
        self.note_load()
        return json.loads(done.stdout.splitlines()[-1])

    def throughput_run(self, publish: str, pin_core: int | None, delivery: str = "auto",
                       capture: str | None = None) -> dict[str, Any]:
        """``edge-sdk run`` over the whole video, every frame; figures from its last stats message."""
        device = self._name(f"throughput-{publish}")
        text, sensor = trace_inputs(self.video)
        mqtt = {**self._mqtt(device), "delivery": delivery}
        # stats every stats_interval_s: the CPU time between two of them, over the results published
        # between them, is the run's steady-state CPU per result (overhead_cpu_us_per_result)
        config = device_config(self.workdir / f"{device}.json", device=device, text=text, sensor=sensor,
                               camera={"source": f"file://{self.video}", "playback": "every_frame",
                                       **({} if capture is None else {"capture": capture})},
                               pipeline={"publish": publish, "stats_interval_s": self.args.stats_interval_s},
                               mqtt=mqtt)
        run = run_to_final_stats(self.broker.host, self.broker.port, config, self.workdir / f"{device}.log",
                                 device=device, pin_core=pin_core, timeout_s=300)
        self.note_load()
        summary, final = run.summary, run.final
        whole_run = {"run_cpu_s": round(run.process.rusage_cpu_s or float("nan"), 3), "cpu": run.cpu}
        if final is None:  # the exit line's fps also counts the outbox drain at close: a fallback only
            return {"results_per_s": summary["fps"], "results": summary["results"], "stages": {}, "drops": {},
                    "source": "exit line", **whole_run}
        return {"results_per_s": final["fps"], "results": final["results"], "stages": final["stages"],
                "drops": final["drops"], "publish": publish, "source": "final stats", **whole_run}

    def throughput(self) -> dict[str, Any]:
        rounds: list[dict[str, Any]] = []
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("stages_2core", lambda: self.stages_alone(None)),
            ("every_2core", lambda: self.throughput_run("every", None)),
            ("change_2core", lambda: self.throughput_run("change", None)),
            ("stages_1core", lambda: self.stages_alone(0)),
            ("every_1core", lambda: self.throughput_run("every", 0)),
            # auto picked the process on 2 cores and threads on 1: the other choice, side by side
            ("every_2core_threads", lambda: self.throughput_run("every", None, delivery="threads")),
            ("every_1core_process", lambda: self.throughput_run("every", 0, delivery="process")),
            # the default capture is a thread; the capture process beside it, on 2 cores and on 1
            ("every_2core_capture_process", lambda: self.throughput_run("every", None, capture="process")),
            ("every_1core_capture_process", lambda: self.throughput_run("every", 0, capture="process")),
        ]
        with tqdm(total=self.args.rounds * len(steps), desc="throughput (interleaved rounds)", unit="run") as bar:
            for _ in range(self.args.rounds):
                figures: dict[str, Any] = {}
                for name, step in steps:
                    bar.set_postfix_str(name)
                    figures[name] = step()
                    bar.update()
                rounds.append(figures)
        return summarise_throughput(rounds)

    # -- latency, memory, start-up -------------------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        device = self._name("latency")
        text, sensor = trace_inputs(self.video)
        config = device_config(self.workdir / f"{device}.json", device=device, text=text, sensor=sensor,
                               camera={"source": f"file://{self.video}", "playback": "realtime"},
                               pipeline={"publish": "every"}, mqtt=self._mqtt(device))
        events, stats_topic = f"edge_sdk/{device}/events", f"edge_sdk/{device}/stats"
        with MQTTRecorder(self.broker.host, self.broker.port, [events, stats_topic]) as recorder:
            process = RuntimeProcess(config, self.workdir / f"{device}.log")
            try:
                if not recorder.wait_for(lambda m: any(x.topic == events for x in m), 60):
                    raise RuntimeError(f"no result within 60 s:\n{process.log_text()[-3000:]}")
                first = recorder.on(events)[0]
                first_result_s = first.received_s - process.started_wall_s
                for _ in tqdm(range(int(self.args.latency_s)), desc="latency (realtime playback)", unit="s"):
                    time.sleep(1.0)
                peak_rss_mb = process.peak_rss_mb()
                children_rss_mb = process.children_peak_rss_mb()
            finally:
                code = process.terminate()
            if code != 0:
                raise RuntimeError(f"edge-sdk run exited with {code}:\n{process.log_text()[-3000:]}")
            summary = process.summary()
            recorder.wait_for(lambda m: any(x.topic == stats_topic and x.json().get("results") == summary.get("results")
                                            for x in m), 5.0)
            received = recorder.on(events)
            stats = [m.json() for m in recorder.on(stats_topic)]
        self.note_load()
        latencies_ms = sorted((m.received_s - m.json()["inputs"]["frame_ts"]) * 1000.0 for m in received)
        final = stats[-1] if stats else {"stages": {}}
        invoke_p50_ms = final["stages"].get("invoke", {}).get("p50_ms", float("nan"))
        p50 = percentile(latencies_ms, 50)
        return {
            "latency_p50_ms": round(p50, 2),
            "latency_p95_ms": round(percentile(latencies_ms, 95), 2),
            "latency_p99_ms": round(percentile(latencies_ms, 99), 2),
            "latency_samples": len(latencies_ms),
            "latency_invoke_p50_ms": invoke_p50_ms,
            "latency_excess_p50_ms": round(p50 - invoke_p50_ms, 2),
            "latency_stages": final["stages"],
            "latency_frame_drops": final.get("drops", {}).get("frames"),
            # both processes of the run: the runtime and its MQTT delivery process
            "rss_mb": round(peak_rss_mb + children_rss_mb, 1) if peak_rss_mb is not None else None,
            "rss_runtime_mb": round(peak_rss_mb, 1) if peak_rss_mb is not None else None,
            "rss_delivery_mb": round(children_rss_mb, 1),
            "first_result_s": round(first_result_s, 3),
        }

    # -- delivery across an outage and a crash -------------------------------------------------------
    def _looping_config(self, device: str, outbox: Path) -> Path:
        text, sensor = constant_inputs(self.workdir)
        mqtt = mqtt_section(self.broker.host, self.broker.port, outbox)
        return device_config(self.workdir / f"{device}.json", device=device, text=text, sensor=sensor,
                             camera={"source": f"file://{self.video}", "playback": "realtime", "loop": True},
                             pipeline={"publish": "every"}, mqtt=mqtt)

    def _watcher(self, device: str) -> MQTTRecorder:
        # a persistent session on a persistent broker: what is queued for it survives the restart
        return MQTTRecorder(self.broker.host, self.broker.port, [f"edge_sdk/{device}/events"], protocol="3.1.1",
                            client_id=f"watch-{device}", persistent_session=True).start()

    def outage(self) -> dict[str, Any]:
        device = self._name("outage")
        config = self._looping_config(device, self.workdir / f"outbox-{device}.sqlite3")
        events = f"edge_sdk/{device}/events"
        watcher = self._watcher(device)
        try:
            process = RuntimeProcess(config, self.workdir / f"{device}.log")
            try:
                if not watcher.wait_for(lambda m: len(m) > 0, 60):
                    raise RuntimeError(f"no result within 60 s:\n{process.log_text()[-3000:]}")
                boot = watcher.on(events)[0].json()["boot"]
                outage_s = self.args.outage_s
                with tqdm(total=5 + int(outage_s), desc=f"broker outage ({outage_s:g} s)", unit="s") as bar:
                    _sleep(2.0, bar)
                    self.broker.stop()
                    _sleep(outage_s, bar)
                    self.broker.start()
                    _sleep(3.0, bar)
            finally:
                code = process.terminate()
            summary = process.summary()
            sent = int(summary.get("published", 0))
            complete = watcher.wait_for(lambda m: _seqs(m, events, boot) >= set(range(1, sent + 1)), 30)
            received = _seqs(watcher.messages, events, boot)
            replayed = sum(1 for m in watcher.on(events) if m.json().get("replayed"))
        finally:
            watcher.close()
        self.note_load()
        return {"outage_sent": sent, "outage_received": len(received & set(range(1, sent + 1))),
                "outage_duplicates": len(watcher.on(events)) - len(received), "outage_replayed_flag": replayed,
                "outage_complete": complete and code == 0, "outage_s": outage_s}

    def crash(self) -> dict[str, Any]:
        device = self._name("crash")
        outbox = self.workdir / f"outbox-{device}.sqlite3"
        config = self._looping_config(device, outbox)
        events = f"edge_sdk/{device}/events"
        watcher = self._watcher(device)
        try:
            with tqdm(total=4, desc="crash during an outage", unit="step") as bar:
                first = RuntimeProcess(config, self.workdir / f"{device}-first.log")
                try:
                    if not watcher.wait_for(lambda m: len(m) > 0, 60):
                        raise RuntimeError(f"no result within 60 s:\n{first.log_text()[-3000:]}")
                    boot = watcher.on(events)[0].json()["boot"]
                    time.sleep(1.5)
                    bar.update()
                    self.broker.stop()
                    time.sleep(self.args.crash_outage_s)  # results pile up in the outbox only
                    bar.update()
                finally:
                    first.kill()
                live = _seqs(watcher.messages, events, boot)
                sent = max(outbox_last_seq(outbox, boot), max(live, default=0))
                self.broker.start()
                second = RuntimeProcess(config, self.workdir / f"{device}-second.log")
                try:
                    complete = watcher.wait_for(lambda m: _seqs(m, events, boot) >= set(range(1, sent + 1)), 60)
                    bar.update()
                finally:
                    code = second.terminate()
                bar.update()
            messages = [m.json() for m in watcher.on(events)]
        finally:
            watcher.close()
        self.note_load()
        first_boot = [m for m in messages if m["boot"] == boot]
        received = {m["seq"] for m in first_boot}
        replayed = {m["seq"] for m in first_boot if m.get("replayed")}
        pending = set(range(1, sent + 1)) - live  # what only the outbox held when the process died
        return {"crash_sent": sent, "crash_received": len(received & set(range(1, sent + 1))),
                "crash_in_outbox_at_kill": len(pending), "crash_replayed_flagged": len(replayed & pending),
                "crash_complete": complete and code == 0}

    # -- the outbox against plain paho ---------------------------------------------------------------
    def outbox_ratio(self) -> dict[str, Any]:
        spec = importlib.util.spec_from_file_location("_bench_outbox", REPO / "bench" / "outbox.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with tqdm(total=1, desc="outbox vs plain paho (QoS 1)", unit="bench") as bar:
            figures = module.measure_outbox_qos1_ratio(self.broker.host, self.broker.port,
                                                       n_messages=self.args.outbox_messages,
                                                       rounds=self.args.outbox_rounds)
            bar.update()
        self.note_load()
        return figures


# -- figures ----------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def _sleep(seconds: float, bar: tqdm) -> None:
    """Sleep, ticking the progress bar once a second."""
    whole, rest = divmod(seconds, 1.0)
    for _ in range(int(whole)):
        time.sleep(1.0)
        bar.update(1)
    time.sleep(rest)


def _seqs(messages: list[Any], topic: str, boot: str) -> set[int]:
    out = set()
    for message in messages:
        if message.topic == topic:
            payload = message.json()
            if payload["boot"] == boot:
                out.add(payload["seq"])
    return out


def summarise_throughput(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-round ratios (each from runs made side by side), then medians over the rounds."""
    def med(values: list[float]) -> float:
        return statistics.median(values)

    eff, eff_change, eff_1core, bottlenecks = [], [], [], []
    eff_capture_process, eff_1core_capture_process = [], []
    for figures in rounds:
        alone = figures["stages_2core"]
        rates = {"capture": 1000.0 / alone["capture_ms"], "preprocess+invoke": 1000.0 / alone["infer_ms"]}
        bottleneck = min(rates, key=rates.__getitem__)
        bottlenecks.append(bottleneck)
        eff.append(figures["every_2core"]["results_per_s"] / rates[bottleneck])
        eff_change.append(figures["change_2core"]["results_per_s"] / rates[bottleneck])
        pinned = figures["stages_1core"]
        back_to_back_per_s = 1000.0 / (pinned["capture_ms"] + pinned["infer_ms"])
        eff_1core.append(figures["every_1core"]["results_per_s"] / back_to_back_per_s)
        eff_capture_process.append(figures["every_2core_capture_process"]["results_per_s"] / rates[bottleneck])
        eff_1core_capture_process.append(figures["every_1core_capture_process"]["results_per_s"] / back_to_back_per_s)
    last = rounds[-1]
    return {
        **summarise_overhead(rounds),
        "pipeline_efficiency": round(med(eff), 3),
        "pipeline_efficiency_1core": round(med(eff_1core), 3),
        "pipeline_efficiency_change": round(med(eff_change), 3),
        "bottleneck_stage": max(set(bottlenecks), key=bottlenecks.count),
        "results_per_s": round(med([r["every_2core"]["results_per_s"] for r in rounds]), 1),
        "results_per_s_change": round(med([r["change_2core"]["results_per_s"] for r in rounds]), 1),
        "results_per_s_1core": round(med([r["every_1core"]["results_per_s"] for r in rounds]), 1),
        "results_per_s_threads": round(med([r["every_2core_threads"]["results_per_s"] for r in rounds]), 1),
        "results_per_s_1core_process": round(med([r["every_1core_process"]["results_per_s"] for r in rounds]), 1),
        # results/s with the delivery process over results/s with delivery threads, per round
        "delivery_process_speedup": round(med([r["every_2core"]["results_per_s"] / r["every_2core_threads"]["results_per_s"]
                                               for r in rounds]), 3),
        "delivery_process_speedup_1core": round(med([r["every_1core_process"]["results_per_s"]
                                                     / r["every_1core"]["results_per_s"] for r in rounds]), 3),
        # camera.capture: process against the default (a capture thread), per round
        "pipeline_efficiency_capture_process": round(med(eff_capture_process), 3),
        "pipeline_efficiency_1core_capture_process": round(med(eff_1core_capture_process), 3),
        "results_per_s_capture_process": round(med([r["every_2core_capture_process"]["results_per_s"]
                                                    for r in rounds]), 1),
        "results_per_s_1core_capture_process": round(med([r["every_1core_capture_process"]["results_per_s"]
                                                          for r in rounds]), 1),
        "capture_process_speedup": round(med([r["every_2core_capture_process"]["results_per_s"]
                                              / r["every_2core"]["results_per_s"] for r in rounds]), 3),
        "capture_process_speedup_1core": round(med([r["every_1core_capture_process"]["results_per_s"]
                                                    / r["every_1core"]["results_per_s"] for r in rounds]), 3),
        "capture_process_speedup_by_round": [round(r["every_2core_capture_process"]["results_per_s"]
                                                   / r["every_2core"]["results_per_s"], 3) for r in rounds],
        "run_stages_every_2core_capture_process": last["every_2core_capture_process"]["stages"],
        "invoke_per_s": round(med([1000.0 / r["stages_2core"]["invoke_p50_ms"] for r in rounds]), 1),
        "capture_alone_per_s": round(med([1000.0 / r["stages_2core"]["capture_ms"] for r in rounds]), 1),
        "infer_alone_per_s": round(med([1000.0 / r["stages_2core"]["infer_ms"] for r in rounds]), 1),
        "back_to_back_1core_per_s": round(med([1000.0 / (r["stages_1core"]["capture_ms"] + r["stages_1core"]["infer_ms"])
                                               for r in rounds]), 1),
        "efficiency_by_round": [round(x, 3) for x in eff],
        "efficiency_1core_by_round": [round(x, 3) for x in eff_1core],
        "stages_alone_2core": last["stages_2core"],
        "stages_alone_1core": last["stages_1core"],
        "run_stages_every_2core": last["every_2core"]["stages"],
        "run_stages_change_2core": last["change_2core"]["stages"],
        "run_stages_every_1core": last["every_1core"]["stages"],
        "dispatch_drops_every_2core": [r["every_2core"]["drops"].get("dispatch") for r in rounds],
        "dispatch_drops_every_1core": [r["every_1core"]["drops"].get("dispatch") for r in rounds],
        "frames_per_run": last["every_2core"]["results"],
    }


# (figure suffix, run, stages alone run on the same cores)
_OVERHEAD_RUNS = (("", "every_2core", "stages_2core"), ("_1core", "every_1core", "stages_1core"),
                  ("_threads", "every_2core_threads", "stages_2core"),
                  ("_1core_process", "every_1core_process", "stages_1core"),
                  ("_capture_process", "every_2core_capture_process", "stages_2core"),
                  ("_1core_capture_process", "every_1core_capture_process", "stages_1core"))


def summarise_overhead(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """``overhead_cpu_us_per_result``: the run's steady-state CPU time per published result (runtime and
    delivery process) minus the CPU time per frame of capture+decode and preprocess+invoke+decode run
    alone on the same frames and cores; median over rounds, None when a run was too short for two
    stats messages."""
    out: dict[str, Any] = {}
    for suffix, run, alone in _OVERHEAD_RUNS:
        overheads, totals, runtime, delivery, capture = [], [], [], [], []
        for figures in rounds:
            cpu, stages = figures[run].get("cpu"), figures[alone]
            if cpu is None or "capture_cpu_ms" not in stages:
                continue
            stages_us = (stages["capture_cpu_ms"] + stages["infer_cpu_ms"]) * 1000.0
            overheads.append(cpu["cpu_us_per_result"] - stages_us)
            totals.append(cpu["cpu_us_per_result"])
            runtime.append(cpu["runtime_cpu_us_per_result"])
            delivery.append(cpu["delivery_cpu_us_per_result"])
            capture.append(cpu["capture_cpu_us_per_result"])

        def med(values: list[float]) -> float | None:
            return round(statistics.median(values), 1) if values else None

        out[f"overhead_cpu_us_per_result{suffix}"] = med(overheads)
        out[f"cpu_us_per_result{suffix}"] = med(totals)
        out[f"runtime_cpu_us_per_result{suffix}"] = med(runtime)
        out[f"delivery_cpu_us_per_result{suffix}"] = med(delivery)
        out[f"capture_cpu_us_per_result{suffix}"] = med(capture)
        if not suffix:
            out["overhead_cpu_us_by_round"] = [round(x, 1) for x in overheads]
    for cores in ("2core", "1core"):
        stages = [r[f"stages_{cores}"] for r in rounds if "capture_cpu_ms" in r[f"stages_{cores}"]]
        out[f"stages_alone_cpu_us_per_frame_{cores}"] = (
            round(statistics.median([(s["capture_cpu_ms"] + s["infer_cpu_ms"]) * 1000.0 for s in stages]), 1)
            if stages else None)
    return out


def print_table(figures: dict[str, Any]) -> None:
    def p50(stages: dict[str, Any], name: str) -> str:
        value = stages.get(name, {}).get("p50_ms")
        return f"{value:.3f}" if isinstance(value, (int, float)) else "-"

    rows = [
        ("results/s, publish=every (2 cores)", figures["results_per_s"], ""),
        ("results/s, publish=change (2 cores)", figures["results_per_s_change"], ""),
        ("results/s, publish=every (1 core)", figures["results_per_s_1core"], ""),
        ("  the other delivery: threads 2c / process 1c",
         f"{figures['results_per_s_threads']} / {figures['results_per_s_1core_process']}", ""),
        ("  delivery process speed-up (2 / 1 core)",
         f"{figures['delivery_process_speedup']} / {figures['delivery_process_speedup_1core']}", ""),
        ("capture+decode alone, /s", figures["capture_alone_per_s"], ""),
        ("preprocess+invoke+decode alone, /s", figures["infer_alone_per_s"], ""),
        ("both back to back on 1 core, /s", figures["back_to_back_1core_per_s"], ""),
        ("invoke alone (1 / p50), /s", figures["invoke_per_s"], ""),
        ("bottleneck stage", figures["bottleneck_stage"], ""),
        ("  capture process speed-up (2 / 1 core)",
         f"{figures['capture_process_speedup']} / {figures['capture_process_speedup_1core']}", ""),
        ("  capture process: 2c / 1c",
         f"{figures['results_per_s_capture_process']} / {figures['results_per_s_1core_capture_process']}", ""),
        ("CPU us/result: run (runtime + children)",
         (f"{figures['cpu_us_per_result']} ({figures['runtime_cpu_us_per_result']} + "
          f"{figures['delivery_cpu_us_per_result']}, capture {figures['capture_cpu_us_per_result']})"), ""),
        ("CPU us/frame: stages alone (2 / 1 core)",
         f"{figures['stages_alone_cpu_us_per_frame_2core']} / {figures['stages_alone_cpu_us_per_frame_1core']}", ""),
        ("overhead_cpu_us_per_result (every, 2c)", figures["overhead_cpu_us_per_result"], "<= 150"),
        ("  overhead: 1 core / threads 2c / process 1c",
         (f"{figures['overhead_cpu_us_per_result_1core']} / {figures['overhead_cpu_us_per_result_threads']} / "
          f"{figures['overhead_cpu_us_per_result_1core_process']}"), ""),
        ("  overhead: capture process 2c / 1c",
         (f"{figures['overhead_cpu_us_per_result_capture_process']} / "
          f"{figures['overhead_cpu_us_per_result_1core_capture_process']}"), ""),
        ("pipeline_efficiency (every)", figures["pipeline_efficiency"], ">= 0.85"),
        ("pipeline_efficiency (change)", figures["pipeline_efficiency_change"], ""),
        ("pipeline_efficiency_1core", figures["pipeline_efficiency_1core"], ">= 0.85"),
        ("  capture process 2c / 1c",
         f"{figures['pipeline_efficiency_capture_process']} / {figures['pipeline_efficiency_1core_capture_process']}", ""),
        ("dispatch drops (every, 2 / 1 core)",
         f"{figures['dispatch_drops_every_2core']} / {figures['dispatch_drops_every_1core']}", "0"),
        ("latency p50 / p99 ms (realtime)", f"{figures['latency_p50_ms']} / {figures['latency_p99_ms']}", ""),
        ("latency excess over invoke p50, ms", figures["latency_excess_p50_ms"], "<= 5"),
        ("peak RSS of edge-sdk run, MB", (f"{figures['rss_mb']} ({figures['rss_runtime_mb']} + "
                                          f"{figures['rss_delivery_mb']} children)"), "<= 150"),
        ("RSS of 'import tensorflow', MB", figures["tf_rss_mb"], ""),
        ("first result after start, s", figures["first_result_s"], "<= 2"),
        ("outage: sent / received", f"{figures['outage_sent']} / {figures['outage_received']}", "equal"),
        ("crash: sent / received (replayed)",
         f"{figures['crash_sent']} / {figures['crash_received']} ({figures['crash_replayed_flagged']})", "equal"),
        ("outbox QoS 1 / plain paho", figures["outbox_qos1_ratio"], ">= 0.9"),
        ("load average (1 min) min..max", f"{min(figures['load_avg_1min']):.1f}..{max(figures['load_avg_1min']):.1f}",
         f"{os.cpu_count()} cores"),
    ]
    if "realistic_efficiency" in figures:
        rows += realistic_rows(figures)
    print(f"{'figure':<40}{'value':>24}  target")
    for name, value, target in rows:
        print(f"{name:<40}{value!s:>24}  {target}")
    print()
    print(f"{'stage p50 ms':<22}{'alone 2c':>10}{'every 2c':>10}{'change 2c':>10}{'alone 1c':>10}{'every 1c':>10}"
          f"{'realtime':>10}")
    alone2, alone1 = figures["stages_alone_2core"], figures["stages_alone_1core"]
    for stage, alone_key in (("capture", "capture_ms"), ("preprocess", "preprocess_p50_ms"),
                             ("invoke", "invoke_p50_ms"), ("post", "post_p50_ms"), ("publish", None)):
        a2 = f"{alone2[alone_key]:.3f}" if alone_key else "-"
        a1 = f"{alone1[alone_key]:.3f}" if alone_key else "-"
        print(f"{stage:<22}{a2:>10}{p50(figures['run_stages_every_2core'], stage):>10}"
              f"{p50(figures['run_stages_change_2core'], stage):>10}{a1:>10}"
              f"{p50(figures['run_stages_every_1core'], stage):>10}{p50(figures['latency_stages'], stage):>10}")
    print("(capture alone is the loop mean; in runs, the pipeline's own per-stage p50)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small version for the smoke test (about a minute)")
    parser.add_argument("--rounds", type=int, help="interleaved throughput rounds (default 3; quick 1)")
    parser.add_argument("--workdir", type=Path, default=REPO / "work" / "bench-runtime")
    parser.add_argument("--clip-size", type=int, help="the seek video's frame size in pixels (default: the clip's, "
                        "192); larger frames cost more to decode and copy, e.g. 640 for camera.capture's comparison")
    args = parser.parse_args(argv)
    quick = args.quick
    # A 4-minute clip is 3600 frames: a few seconds per every_frame run at the rates seen here.
    # quick: 20 s (300 frames) and stats every 50 ms, so that a run has two stats messages to take its
    # CPU per result between
    args.video_s = 20.0 if quick else 240.0
    args.stats_interval_s = 0.05 if quick else 0.5
    args.rounds = args.rounds or (1 if quick else 3)
    args.stage_frames = 80 if quick else 3000
    args.latency_s = 3 if quick else 30
    args.outage_s = 2.0 if quick else 10.0
    args.crash_outage_s = 1.5 if quick else 3.0
    args.outbox_messages, args.outbox_rounds = (300, 1) if quick else (5000, 3)
    started_s = time.perf_counter()
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = workdir / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir()
    load_at_start = os.getloadavg()
    video = ensure_clip(workdir, args.video_s, size=args.clip_size)
    figures: dict[str, Any] = {}
    with MosquittoBroker(run_dir / "mosquitto", persistence=True) as broker:
        bench = Bench(args, run_dir, broker, video)
        bench.note_load()
        figures.update(bench.throughput())
        figures.update(bench.latency())
        figures.update(bench.outage())
        figures.update(bench.crash())
        figures.update(bench.outbox_ratio())
        if not quick:  # a detector of real size over 640x480 (builds it once with TensorFlow)
            realistic = RealisticBench(run_dir, broker, ensure_bundle(workdir), ensure_video(workdir, 2400), 2400)
            figures.update(realistic.rounds(args.rounds))
    if quick:
        figures["tf_rss_mb"] = None  # importing TensorFlow alone takes longer than the smoke test's budget
    else:
        with tqdm(total=1, desc="RSS of 'import tensorflow'", unit="import") as bar:
            figures["tf_rss_mb"] = round(tensorflow_rss_mb() or float("nan"), 1)
            bar.update()
    figures["load_avg_1min"] = [round(x, 2) for x in bench.loads]
    figures["load_avg_at_start"] = [round(x, 2) for x in load_at_start]
    figures["cpu_count"] = os.cpu_count()
    figures["video"] = {"path": str(video), "seconds": args.video_s, "fps": FPS, "size": args.clip_size}
    figures["model"] = str(default_bundle_path())
    figures["quick"] = quick
    figures["bench_s"] = round(time.perf_counter() - started_s, 1)
    figures["targets_met"] = {
        "pipeline_efficiency": figures["pipeline_efficiency"] >= TARGETS["pipeline_efficiency"],
        "pipeline_efficiency_1core": figures["pipeline_efficiency_1core"] >= TARGETS["pipeline_efficiency_1core"],
        "latency_excess_p50_ms": figures["latency_excess_p50_ms"] <= TARGETS["latency_excess_p50_ms"],
        "rss_mb": figures["rss_mb"] is not None and figures["rss_mb"] <= TARGETS["rss_mb"],
        "first_result_s": figures["first_result_s"] <= TARGETS["first_result_s"],
        "outage_no_loss": figures["outage_sent"] == figures["outage_received"] > 0,
        "crash_no_loss": figures["crash_sent"] == figures["crash_received"] > 0,
        "outbox_qos1_ratio": figures["outbox_qos1_ratio"] >= TARGETS["outbox_qos1_ratio"],
        "realistic_efficiency": figures.get("realistic_efficiency", 0.0) >= 0.9,
        "realistic_efficiency_1core": figures.get("realistic_efficiency_1core", 0.0) >= 0.9,
        "overhead_cpu_us_per_result": (figures["overhead_cpu_us_per_result"] is not None
                                       and figures["overhead_cpu_us_per_result"] <= TARGETS["overhead_cpu_us_per_result"]),
    }
    print_table(figures)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
