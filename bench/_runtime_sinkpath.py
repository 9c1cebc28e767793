"""The per-result sink path alone, in one process, against a real Mosquitto (a helper of ``bench/runtime.py``).

    python bench/_runtime_sinkpath.py [--results 3000] [--delivery process|threads] [--profile out.prof]

What the pipeline's sink thread does for each result of ``edge-sdk run``, without the model: a
seek :class:`~edge_sdk.pipeline.result.Result` (a classify task result, text, sensor, timings) ->
``Result.to_payload`` -> :class:`~edge_sdk.pipeline.fanout.SinkFanout` (the JSON check, the stamp)
-> the MQTT publisher (``PublisherProcess``: pickled to the delivery process, which encodes, commits
to the outbox and sends with paho; ``MQTTPublisher``: the same in threads of this process), in
batches as the dispatcher forms them, then ``flush`` until the broker acknowledged everything.

Prints one JSON object: CPU microseconds per result of the calling thread (``caller_cpu_us``: the
sink thread's share), of this whole process (``process_cpu_us``: with the delivery threads), of the
delivery process (``delivery_cpu_us``), and their sum ``total_cpu_us``; the stages the caller pays
(``payload_us``, ``fanout_us``), and ``allocations_per_result`` (tracemalloc, one untimed pass).
``--profile`` writes a cProfile of the caller's loop (``pstats`` reads it).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runtime_proc import _children, _cpu_s

from edge_sdk.configtools import build
from edge_sdk.pipeline.fanout import SinkFanout
from edge_sdk.pipeline.result import Result
from edge_sdk.sinks.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.tasks.classify import Classification
from edge_sdk.testing import MosquittoBroker

_LABELS = ("left", "center", "right", "absent", "blocked")
_MODEL = {"name": "seek", "version": "3", "quant": "int8", "sha256": "ab" * 32}


def seek_result(i: int) -> Result:
    """A result as the seek pipeline makes it (the same fields and value types)."""
    now = time.time()
    label = _LABELS[i % len(_LABELS)]
    scores = {name: (0.9312345 if name == label else 0.0171234) for name in _LABELS}
    timing = {"capture": 0.1234567, "wait": 1.234567, "preprocess": 0.1345678, "invoke": 0.0912345, "post": 0.012345}
    return Result(ts=now, label=label, confidence=0.9312345, scores=scores, frame_ts=now - 0.002, frame_index=i,
                  text="find the red circle", text_ts=now - 1.0, sensor={"distance_cm": 80.0},
                  sensor_ts=now - 0.03, skew_ms=12.3456, timing_ms=timing, media_t_s=i / 15.0,
                  task_result=Classification(label=label, confidence=0.9312345, scores=scores,
                                             top_k=tuple(sorted(scores.items(), key=lambda kv: -kv[1]))))


def _config(host: str, port: int, workdir: Path, delivery: str) -> MQTTConfig:
    return build(MQTTConfig, {"device_id": f"sinkpath-{delivery}", "host": host, "port": port,
                              "outbox": {"path": str(workdir / f"outbox-{time.monotonic_ns()}.sqlite3")}}, "mqtt")


def run(host: str, port: int, workdir: Path, *, n_results: int, batch: int, delivery: str,
        profile: Path | None = None) -> dict[str, Any]:
    publisher_class = PublisherProcess if delivery == "process" else MQTTPublisher
    results = [seek_result(i) for i in range(n_results)]
    thread_profiles: list[cProfile.Profile] = []
    if profile is not None and delivery == "threads":  # every thread the publisher starts: outbox, paho
        def profile_thread(*_: Any) -> None:
            thread_profiles.append(cProfile.Profile())
            thread_profiles[-1].enable()

        threading.setprofile(profile_thread)
    with publisher_class(_config(host, port, workdir, delivery)) as publisher:
        threading.setprofile(None)
        publisher.wait_connected(10)
        fanout = SinkFanout([publisher])
        warm = [r.to_payload(_MODEL) for r in results[:200]]
        fanout.publish(warm)  # imports, first commits, connection
        publisher.flush(30)
        child = _children_cpu_s()
        own_start_s, caller_start_s, wall_start_s = time.process_time(), time.thread_time(), time.perf_counter()
        payload_s = fanout_s = 0.0
        profiler = cProfile.Profile() if profile is not None else None
        if profiler is not None:
            profiler.enable()
        clock = time.perf_counter
        for start in range(0, n_results, batch):
            t0 = clock()
            payloads = [r.to_payload(_MODEL) for r in results[start:start + batch]]
            t1 = clock()
            fanout.publish(payloads)
            fanout_s += clock() - t1
            payload_s += t1 - t0
        caller_s = time.thread_time() - caller_start_s
        if not publisher.flush(60):
            raise RuntimeError(f"not drained: {publisher.stats()['outbox']}")
        if profiler is not None and profile is not None:
            profiler.disable()
            pstats.Stats(profiler, *thread_profiles).dump_stats(str(profile))
        wall_s = time.perf_counter() - wall_start_s
        own_s = time.process_time() - own_start_s
        child_s = _children_cpu_s() - child
    per = 1e6 / n_results
    return {"delivery": delivery, "results": n_results, "batch": batch, "results_per_s": round(n_results / wall_s, 1),
            "caller_cpu_us": round(caller_s * per, 1), "process_cpu_us": round(own_s * per, 1),
            "delivery_cpu_us": round(child_s * per, 1), "total_cpu_us": round((own_s + child_s) * per, 1),
            "payload_us": round(payload_s * per, 1), "fanout_us": round(fanout_s * per, 1),
            "allocations_per_result": allocations_per_result(results[:200])}


def allocations_per_result(results: list[Result]) -> float:
    """Blocks allocated (and still alive) per result by ``to_payload`` plus the JSON encoding."""
    from edge_sdk.sinks.mqtt.payload import encode

    tracemalloc.start()
    kept = []
    before = tracemalloc.take_snapshot()
    for result in results:
        payload = result.to_payload(_MODEL)
        kept.append((payload, encode(payload)))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    blocks = sum(stat.count_diff for stat in after.compare_to(before, "filename") if stat.count_diff > 0)
    return round(blocks / len(results), 1)


def _children_cpu_s() -> float:
    """CPU seconds of this process's delivery child (not of the broker, also a child)."""
    total = 0.0
    for pid in _children(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"delivery_child" in command:
            total += _cpu_s(pid) or 0.0
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=4, help="results per dispatcher batch (a busy run: a few)")
    parser.add_argument("--delivery", choices=("process", "threads"), default="process")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edge_sdk-sinkpath-") as tmp, MosquittoBroker(Path(tmp) / "m") as broker:
        figures = run(broker.host, broker.port, Path(tmp), n_results=args.results, batch=args.batch,
                      delivery=args.delivery, profile=args.profile)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
