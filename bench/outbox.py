"""Throughput of the durable outbox at QoS 1 against plain paho-mqtt QoS 1 publishing.

``measure_outbox_qos1_ratio(host, port, n_messages)`` publishes the same stamped result payloads
(about 450 bytes of JSON) both ways to the same broker, in the same run, and reports results/s
until the broker acknowledged the last one. The machine is shared (model training next door), so
one round is a *pair* of runs back to back, in alternating order, after an uncounted warm-up
pair; the ratio is the median of the per-pair ratios, which cancels slow drifts of the load that
a ratio of medians would not:

- ``paho``: ``json.dumps`` + ``client.publish(qos=1)`` in a loop, ``max_inflight_messages`` set to
  the publisher's window, then wait for every PUBACK;
- ``outbox``: ``MQTTPublisher.publish_result`` (stamp, SQLite commit, hand to paho) in a loop,
  then ``flush()`` until every result is acknowledged and deleted from the outbox.

Both send one message per result: the publisher runs with ``retain_result: false`` here so the
figure isolates the outbox's cost. Also reported: ``publish_result_us`` (wall time per call in
the burst), ``publish_result_cpu_us`` (CPU time of the calling thread per call: what the
pipeline's dispatcher pays, independent of how busy the machine is) and the process CPU time per
message of each path. ``python bench/outbox.py [n_messages] [rounds]`` starts its own Mosquitto.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge_sdk.configtools import build
from edge_sdk.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.mqtt.payload import ResultStamper, encode
from edge_sdk.testing import MosquittoBroker, example_result

__all__ = ["measure_outbox_qos1_ratio"]

_WINDOW = 100


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _paho_rate(host: str, port: int, n_messages: int) -> float:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{time.monotonic_ns()}")
    client.max_inflight_messages_set(_WINDOW)
    acked = 0
    done = threading.Event()
    connected = threading.Event()

    def on_publish(client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == n_messages:
            done.set()

    client.on_publish = on_publish
    client.on_connect = lambda *args: connected.set()
    client.connect(host, port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError(f"bench: plain paho client could not connect to {host}:{port}")
        stamper = ResultStamper("bench")
        result = example_result()
        start = time.perf_counter()
        for _ in range(n_messages):
            _, payload = stamper.stamp(result)
            client.publish("edge_sdk/bench/events", encode(payload), qos=1)
        if not done.wait(60):
            raise RuntimeError(f"bench: only {acked} of {n_messages} plain paho messages acknowledged")
        return n_messages / (time.perf_counter() - start)
    finally:
        client.disconnect()
        client.loop_stop()


def _outbox_rate(host: str, port: int, n_messages: int, workdir: Path) -> tuple[float, float, float]:
    config = build(MQTTConfig, {
        "device_id": "bench", "host": host, "port": port, "protocol": "3.1.1", "retain_result": False,
        "outbox": {"path": str(workdir / f"outbox-{time.monotonic_ns()}.sqlite3"), "inflight_window": _WINDOW},
    }, "mqtt")
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(10)
        result = example_result()
        start = time.perf_counter()
        start_cpu_s = time.thread_time()
        for _ in range(n_messages):
            publisher.publish_result(result)
        call_cpu_s = time.thread_time() - start_cpu_s
        call_s = time.perf_counter() - start
        if not publisher.flush(60):
            raise RuntimeError(f"bench: outbox not drained: {publisher.stats()['outbox']}")
        elapsed_s = time.perf_counter() - start
    return n_messages / elapsed_s, call_s / n_messages * 1e6, call_cpu_s / n_messages * 1e6


def measure_outbox_qos1_ratio(host: str, port: int, n_messages: int = 3000, rounds: int = 7) -> dict[str, Any]:
    """Results/s through the outbox at QoS 1 divided by plain paho QoS 1: median of paired rounds."""
    ratios: list[float] = []
    paho_rates: list[float] = []
    outbox_rates: list[float] = []
    call_us: list[float] = []
    call_cpu_us: list[float] = []
    paho_cpu_us: list[float] = []
    outbox_cpu_us: list[float] = []
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-outbox-") as tmp:
        _paho_rate(host, port, min(n_messages, 500))  # warm-up: imports, connections, page cache
        _outbox_rate(host, port, min(n_messages, 500), Path(tmp))
        for index in range(rounds):
            order = ("paho", "outbox") if index % 2 == 0 else ("outbox", "paho")
            pair: dict[str, float] = {}
            for path in order:
                cpu_start_s = _cpu_s()
                if path == "paho":
                    pair["paho"] = _paho_rate(host, port, n_messages)
                    paho_cpu_us.append((_cpu_s() - cpu_start_s) / n_messages * 1e6)
                else:
                    pair["outbox"], per_call_us, per_call_cpu_us = _outbox_rate(host, port, n_messages, Path(tmp))
                    outbox_cpu_us.append((_cpu_s() - cpu_start_s) / n_messages * 1e6)
                    call_us.append(per_call_us)
                    call_cpu_us.append(per_call_cpu_us)
            paho_rates.append(pair["paho"])
            outbox_rates.append(pair["outbox"])
            ratios.append(pair["outbox"] / pair["paho"])
    return {
        "outbox_qos1_ratio": round(statistics.median(ratios), 3),
        "outbox_qos1_ratio_min": round(min(ratios), 3),
        "outbox_qos1_per_s": round(statistics.median(outbox_rates), 1),
        "paho_qos1_per_s": round(statistics.median(paho_rates), 1),
        "publish_result_us": round(statistics.median(call_us), 1),
        "publish_result_cpu_us": round(statistics.median(call_cpu_us), 1),
        "outbox_cpu_us_per_msg": round(statistics.median(outbox_cpu_us), 1),
        "paho_cpu_us_per_msg": round(statistics.median(paho_cpu_us), 1),
        "n_messages": n_messages,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n_messages = int(args[0]) if args else 3000
    rounds = int(args[1]) if len(args) > 1 else 7
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-mosquitto-") as tmp, MosquittoBroker(Path(tmp)) as broker:
        figures = measure_outbox_qos1_ratio(broker.host, broker.port, n_messages, rounds)
    print(f"{'path':<34}{'results/s':>12}")
    print(f"{'plain paho, QoS 1':<34}{figures['paho_qos1_per_s']:>12.0f}")
    print(f"{'MQTTPublisher + outbox, QoS 1':<34}{figures['outbox_qos1_per_s']:>12.0f}")
    print(f"{'ratio (target >= 0.8)':<34}{figures['outbox_qos1_ratio']:>12.3f}")
    print(f"{'publish_result call, us':<34}{figures['publish_result_us']:>12.1f}")
    print(f"{'publish_result call, CPU us':<34}{figures['publish_result_cpu_us']:>12.1f}")
    print(f"{'CPU us/message: outbox / paho':<34}{figures['outbox_cpu_us_per_msg']:>6.0f} /{figures['paho_cpu_us_per_msg']:>4.0f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
