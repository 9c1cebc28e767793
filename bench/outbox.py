"""Throughput of the durable outbox at QoS 1 against plain paho-mqtt QoS 1 publishing.

``measure_outbox_qos1_ratio(host, port, n_messages)`` publishes the same stamped result payloads
(about 450 bytes of JSON) both ways to the same broker, in the same run, interleaved over a few
rounds to even out a noisy machine, and reports results/s until the broker acknowledged the last
one:

- ``paho``: ``json.dumps`` + ``client.publish(qos=1)`` in a loop, ``max_inflight_messages`` set to
  the publisher's window, then wait for every PUBACK;
- ``outbox``: ``MQTTPublisher.publish_result`` (stamp, SQLite commit, hand to paho) in a loop,
  then ``flush()`` until every result is acknowledged and deleted from the outbox.

Both send one message per result: the publisher runs with ``retain_result: false`` here so the
figure isolates the outbox's cost. ``python bench/outbox.py`` starts its own Mosquitto.
"""

from __future__ import annotations

import json
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


def _outbox_rate(host: str, port: int, n_messages: int, workdir: Path) -> tuple[float, float]:
    config = build(MQTTConfig, {
        "device_id": "bench", "host": host, "port": port, "protocol": "3.1.1", "retain_result": False,
        "outbox": {"path": str(workdir / f"outbox-{time.monotonic_ns()}.sqlite3"), "inflight_window": _WINDOW},
    }, "mqtt")
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(10)
        result = example_result()
        start = time.perf_counter()
        for _ in range(n_messages):
            publisher.publish_result(result)
        call_s = time.perf_counter() - start
        if not publisher.flush(60):
            raise RuntimeError(f"bench: outbox not drained: {publisher.stats()['outbox']}")
        elapsed_s = time.perf_counter() - start
    return n_messages / elapsed_s, call_s / n_messages * 1e6


def measure_outbox_qos1_ratio(host: str, port: int, n_messages: int = 5000, rounds: int = 3) -> dict[str, Any]:
    """Results/s through the outbox at QoS 1 divided by plain paho QoS 1, medians over ``rounds``."""
    paho_rates: list[float] = []
    outbox_rates: list[float] = []
    call_us: list[float] = []
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-outbox-") as tmp:
        for _ in range(rounds):
            paho_rates.append(_paho_rate(host, port, n_messages))
            rate, per_call_us = _outbox_rate(host, port, n_messages, Path(tmp))
            outbox_rates.append(rate)
            call_us.append(per_call_us)
    paho_per_s = statistics.median(paho_rates)
    outbox_per_s = statistics.median(outbox_rates)
    return {
        "outbox_qos1_ratio": round(outbox_per_s / paho_per_s, 3),
        "outbox_qos1_per_s": round(outbox_per_s, 1),
        "paho_qos1_per_s": round(paho_per_s, 1),
        "publish_result_us": round(statistics.median(call_us), 1),
        "n_messages": n_messages,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n_messages = int(args[0]) if args else 5000
    with tempfile.TemporaryDirectory(prefix="edge_sdk-bench-mosquitto-") as tmp, MosquittoBroker(Path(tmp)) as broker:
        figures = measure_outbox_qos1_ratio(broker.host, broker.port, n_messages)
    print(f"{'path':<34}{'results/s':>12}")
    print(f"{'plain paho, QoS 1':<34}{figures['paho_qos1_per_s']:>12.0f}")
    print(f"{'MQTTPublisher + outbox, QoS 1':<34}{figures['outbox_qos1_per_s']:>12.0f}")
    print(f"{'ratio (target >= 0.8)':<34}{figures['outbox_qos1_ratio']:>12.3f}")
    print(f"{'publish_result call, us':<34}{figures['publish_result_us']:>12.1f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
