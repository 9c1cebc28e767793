"""Throughput of the durable outbox at QoS 1 against plain paho-mqtt QoS 1 publishing.

``measure_outbox_qos1_ratio(host, port, n_messages)`` publishes the same stamped result payloads
(about 450 bytes of JSON) both ways to the same broker, in the same run, and reports results/s
until the broker acknowledged the last one. The machine is shared (model training next door), so
one round is a *pair* of runs back to back, in alternating order, after an uncounted warm-up
pair; the ratio is the median of the per-pair ratios, which cancels slow drifts of the load that
a ratio of medians would not:

- ``paho``: ``json.dumps`` + ``client.publish(qos=1)`` in a loop, ``max_inflight_messages`` set to
  the publisher's window, then wait for every PUBACK;
- ``outbox``: ``PublisherProcess.publish_result`` in a loop, what ``edge-sdk run`` uses (stamp, hand
  to the delivery process, which commits to SQLite and hands to paho), then ``flush()`` until every
  result is acknowledged and deleted from the outbox; the headline ``outbox_qos1_ratio``;
- ``threads``: the same with ``MQTTPublisher`` (delivery in threads of the caller's process,
  ``mqtt.delivery: threads``): ``outbox_qos1_ratio_threads``, measured in the same rounds.

Both send one message per result: the publisher runs with ``retain_result: false`` here so the
figure isolates the outbox's cost. Also reported: ``publish_result_us`` (wall time per call in
the burst), ``publish_result_cpu_us`` (CPU time of the calling thread per call: what the
pipeline's dispatcher pays, independent of how busy the machine is) and the process CPU time per
message of each path (``*_cpu_us_per_msg``: the whole call, with connecting and, for the delivery
process, its start). The burst alone, from the first publish to the last acknowledgement, measured per
process: ``delivery_cpu_us_per_msg`` (the delivery process, from ``/proc/<pid>/stat``),
``runtime_cpu_us_per_msg`` (the publishing process beside it, all its threads),
``threads_burst_cpu_us_per_msg`` and ``paho_burst_cpu_us_per_msg``: what a message costs once
running, without start-up costs. ``python bench/outbox.py [n_messages] [rounds]`` starts its own Mosquitto.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge_sdk.configtools import build
from edge_sdk.sinks.mqtt import MQTTConfig, MQTTPublisher
from edge_sdk.sinks.mqtt.payload import ResultStamper, encode
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.testing import MosquittoBroker, example_result

__all__ = ["measure_outbox_qos1_ratio"]

_WINDOW = 100


def _cpu_s() -> float:
    """This process and its children that ended (the delivery process, once closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _process_cpu_s(pid: int) -> float:
    """User and system CPU of another process (all its threads), from /proc; clock ticks of 10 ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paho_rate(host: str, port: int, n_messages: int) -> tuple[float, float]:
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
        start_cpu_s = time.process_time()
        for _ in range(n_messages):
            _, payload = stamper.stamp(result)
            client.publish("edge_sdk/bench/events", encode(payload), qos=1)
        if not done.wait(60):
            raise RuntimeError(f"bench: only {acked} of {n_messages} plain paho messages acknowledged")
        burst_cpu_s = time.process_time() - start_cpu_s
        return n_messages / (time.perf_counter() - start), burst_cpu_s / n_messages * 1e6
    finally:
        client.disconnect()
        client.loop_stop()


def _outbox_rate(host: str, port: int, n_messages: int, workdir: Path,
                 publisher_class: type[MQTTPublisher | PublisherProcess] = PublisherProcess,
                 ) -> tuple[float, float, float, float, float | None]:
    """results/s, call us, call CPU us, publishing process CPU us/message and the delivery process's
    (None without one), the last two over the burst until every result is acknowledged and deleted."""
    config = build(MQTTConfig, {
        "device_id": "bench", "host": host, "port": port, "protocol": "3.1.1", "retain_result": False,
        "outbox": {"path": str(workdir / f"outbox-{time.monotonic_ns()}.sqlite3"), "inflight_window": _WINDOW},
    }, "mqtt")
    with publisher_class(config) as publisher:
        publisher.wait_connected(10)
        child_pid = publisher.stats().get("delivery_pid")
        result = example_result()
        child_start_s = _process_cpu_s(child_pid) if child_pid else 0.0
        process_start_s = time.process_time()
        start = time.perf_counter()
        start_cpu_s = time.thread_time()
        for _ in range(n_messages):
            publisher.publish_result(result)
        call_cpu_s = time.thread_time() - start_cpu_s
        call_s = time.perf_counter() - start
        if not publisher.flush(60):
            raise RuntimeError(f"bench: outbox not drained: {publisher.stats()['outbox']}")
        elapsed_s = time.perf_counter() - start
        process_cpu_s = time.process_time() - process_start_s
        child_cpu_s = _process_cpu_s(child_pid) - child_start_s if child_pid else None
    per_msg = 1e6 / n_messages
    return (n_messages / elapsed_s, call_s * per_msg, call_cpu_s * per_msg, process_cpu_s * per_msg,
            None if child_cpu_s is None else child_cpu_s * per_msg)


def measure_outbox_qos1_ratio(host: str, port: int, n_messages: int = 3000, rounds: int = 7) -> dict[str, Any]:
    """Results/s through the outbox at QoS 1 divided by plain paho QoS 1: median of per-round ratios,
    the three paths run back to back in a rotating order each round."""
    paths = ("paho", "outbox", "threads")
    rates: dict[str, list[float]] = {path: [] for path in paths}
    cpu_us: dict[str, list[float]] = {path: [] for path in paths}
    call_us: list[float] = []
    call_cpu_us: list[float] = []
    burst_us: dict[str, list[float]] = {path: [] for path in (*paths, "delivery")}  # CPU us/message, burst only
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-outbox-") as tmp:
        _paho_rate(host, port, min(n_messages, 500))  # warm-up: imports, connections, page cache
        _outbox_rate(host, port, min(n_messages, 500), Path(tmp))
        _outbox_rate(host, port, min(n_messages, 500), Path(tmp), MQTTPublisher)
        for index in range(rounds):
            for path in paths[index % 3:] + paths[:index % 3]:
                cpu_start_s = _cpu_s()
                if path == "paho":
                    rate, burst = _paho_rate(host, port, n_messages)
                elif path == "outbox":
                    rate, per_call_us, per_call_cpu_us, burst, child_burst = _outbox_rate(
                        host, port, n_messages, Path(tmp))
                    call_us.append(per_call_us)
                    call_cpu_us.append(per_call_cpu_us)
                    burst_us["delivery"].append(child_burst or 0.0)
                else:
                    rate, _, _, burst, _ = _outbox_rate(host, port, n_messages, Path(tmp), MQTTPublisher)
                burst_us[path].append(burst)
                rates[path].append(rate)
                cpu_us[path].append((_cpu_s() - cpu_start_s) / n_messages * 1e6)
    ratios = [o / p for o, p in zip(rates["outbox"], rates["paho"])]
    ratios_threads = [t / p for t, p in zip(rates["threads"], rates["paho"])]

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    return {
        "outbox_qos1_ratio": round(statistics.median(ratios), 3),
        "outbox_qos1_ratio_min": round(min(ratios), 3),
        "outbox_qos1_ratio_threads": round(statistics.median(ratios_threads), 3),
        "outbox_qos1_per_s": med(rates["outbox"]),
        "outbox_threads_qos1_per_s": med(rates["threads"]),
        "paho_qos1_per_s": med(rates["paho"]),
        "publish_result_us": med(call_us),
        "publish_result_cpu_us": med(call_cpu_us),
        "outbox_cpu_us_per_msg": med(cpu_us["outbox"]),
        "outbox_threads_cpu_us_per_msg": med(cpu_us["threads"]),
        "paho_cpu_us_per_msg": med(cpu_us["paho"]),
        "delivery_cpu_us_per_msg": med(burst_us["delivery"]),
        "runtime_cpu_us_per_msg": med(burst_us["outbox"]),
        "threads_burst_cpu_us_per_msg": med(burst_us["threads"]),
        "paho_burst_cpu_us_per_msg": med(burst_us["paho"]),
        "load_average": [round(load, 2) for load in os.getloadavg()],
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
    print(f"{'delivery process + outbox, QoS 1':<34}{figures['outbox_qos1_per_s']:>12.0f}")
    print(f"{'threads + outbox, QoS 1':<34}{figures['outbox_threads_qos1_per_s']:>12.0f}")
    print(f"{'ratio (target >= 0.9)':<34}{figures['outbox_qos1_ratio']:>12.3f}")
    print(f"{'ratio, threads':<34}{figures['outbox_qos1_ratio_threads']:>12.3f}")
    print(f"{'publish_result call, us':<34}{figures['publish_result_us']:>12.1f}")
    print(f"{'publish_result call, CPU us':<34}{figures['publish_result_cpu_us']:>12.1f}")
    print(f"{'CPU us/message: outbox / threads / paho':<40}{figures['outbox_cpu_us_per_msg']:>6.0f} /"
          f"{figures['outbox_threads_cpu_us_per_msg']:>4.0f} /{figures['paho_cpu_us_per_msg']:>4.0f}")
    print(f"{'burst CPU us/message: delivery process + runtime / threads / paho':<66}"
          f"{figures['delivery_cpu_us_per_msg']:>4.0f} +{figures['runtime_cpu_us_per_msg']:>4.0f} /"
          f"{figures['threads_burst_cpu_us_per_msg']:>4.0f} /{figures['paho_burst_cpu_us_per_msg']:>4.0f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
