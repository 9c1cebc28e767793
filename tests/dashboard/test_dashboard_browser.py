"""End to end: real Mosquitto (websockets listener) -> the dashboard page in headless Chromium.

Payloads go through the broker from paho exactly as a device sends them (stamped results
validated against the result schema, stats, availability, a JPEG thumbnail); the assertions
read what a user sees on the page. ``EDGE_SDK_UPDATE_SCREENSHOT=1`` also rewrites
docs/dashboard.png from a minute of realistic traffic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from edge_sdk.dashboard import DashboardServer, SnapshotPublisher, serve, snapshot_topic
from edge_sdk.sinks.mqtt.payload import ResultStamper, encode
from edge_sdk.sinks.mqtt.topics import Topics
from edge_sdk.testing import MosquittoBroker, example_result

from .browser import Chromium
from .conftest import DEVICE, PREFIX

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
RESULT_SCHEMA = json.loads(resources.files("edge_sdk").joinpath("schemas", "result-1.json").read_text())


class Device:
    """Publishes what a device's runtime would, through paho over TCP."""

    def __init__(self, broker: MosquittoBroker, device_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.topics = Topics(PREFIX, device_id)
        self.stamper = ResultStamper(device_id)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-device-{device_id}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5.0)

    def result(self, body: dict[str, Any], *, retain_latest: bool = True) -> dict[str, Any]:
        """As MQTTPublisher does: the result on ``events`` and, retained, on ``result``."""
        _, payload = self.stamper.stamp(body)
        jsonschema.validate(payload, RESULT_SCHEMA)
        self.publish(self.topics.events, encode(payload))
        if retain_latest:
            self.publish(self.topics.result, encode(payload), retain=True)
        return payload

    def stats(self, ts: float, fps: float, publish_ms: float, results: int) -> None:
        body = {"state": "running", "results": results, "published": results, "fps": fps, "fps_recent": fps,
                "stages": {"publish": {"p50_ms": publish_ms, "p95_ms": publish_ms * 1.5, "p99_ms": publish_ms * 2,
                                       "count": results}},
                "drops": {"frames": 3, "dispatch": 0, "incomplete_inputs": 0},
                "mqtt": {"state": "connected", "connected": True, "results": results, "acked": results,
                         "outbox": {"pending": 0}, "commands": {}}}
        self.publish(self.topics.stats, encode(self.stamper.stats_payload(body, ts)), qos=0)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def device(ws_broker: MosquittoBroker) -> Iterator[Device]:
    publisher = Device(ws_broker, DEVICE)
    yield publisher
    publisher.close()


def open_dashboard(browser: Chromium, server: DashboardServer) -> None:
    browser.goto(server.url)
    browser.wait_for("window.edgeDashboard && window.edgeDashboard.client.subscribed")


def text_of(browser: Chromium, element_id: str) -> str:
    return str(browser.evaluate(f"document.getElementById({element_id!r}).textContent"))


def colored_pixels(browser: Chromium, canvas_id: str, rgb: tuple[int, int, int]) -> int:
    """Pixels of the canvas within 40 of ``rgb`` per channel: the drawn line and its end dot."""
    r, g, b = rgb
    return int(browser.evaluate(f"""(() => {{
        const canvas = document.getElementById({canvas_id!r});
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) {{
            if (data[i + 3] > 200 && Math.abs(data[i] - {r}) < 40 && Math.abs(data[i + 1] - {g}) < 40
                && Math.abs(data[i + 2] - {b}) < 40) count++;
        }}
        return count;
    }})()"""))


def test_page_shows_retained_state_then_live_results_stats_snapshot_and_availability(
    browser: Chromium, dashboard: DashboardServer, device: Device
) -> None:
    # Before the page opens: what a device leaves retained on the broker.
    device.publish(device.topics.available, "online", retain=True)
    device.result(example_result(0))  # "left"
    open_dashboard(browser, dashboard)
    browser.wait_for("document.getElementById('decision-label').textContent === 'left'")
    assert browser.evaluate("document.getElementById('availability').dataset.state") == "online"
    assert text_of(browser, "device-id") == DEVICE

    # Live traffic.
    now = example_result(0)["ts"] + 0.5
    live = example_result(2, ts=now)  # "right"
    live["confidence"] = 0.87
    live["scores"]["right"] = 0.87
    live["inputs"]["text"] = "find the blue square"
    live["inputs"]["sensor"] = {"distance_cm": 37.5}
    live["timing_ms"]["invoke"] = 9.25
    device.result(live)  # on events and retained result: the page must show it once
    device.stats(ts=now, fps=14.2, publish_ms=0.8, results=2)
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    frame[:, :160] = (0, 0, 255)  # BGR red on the left half
    snapshots = SnapshotPublisher.for_paho(device.client, snapshot_topic(PREFIX, DEVICE))
    assert snapshots.offer(frame, "BGR")

    browser.wait_for("document.getElementById('decision-label').textContent === 'right'")
    assert text_of(browser, "decision-confidence") == "87.0 %"
    assert text_of(browser, "input-text") == "“find the blue square”"
    sensor = browser.evaluate("document.querySelector('#sensor-table tr[data-channel=distance_cm] .sensor-value').textContent")
    assert sensor == "37.5 cm"
    assert text_of(browser, "input-skew") == "15.0 ms"
    assert text_of(browser, "model-info") == "seek · v3 · int8"
    browser.wait_for("document.getElementById('fps').textContent === '14.2'")
    assert text_of(browser, "stat-results") == "2"

    width = browser.wait_for("document.getElementById('snapshot').naturalWidth")
    assert width == 160
    assert browser.evaluate("document.getElementById('snapshot').naturalHeight") == 120

    # Two distinct results (seq 1 and 2; seq 2 arrived twice) are two points per stage chart.
    browser.wait_for("document.getElementById('chart-invoke').dataset.points === '2'")
    assert text_of(browser, "stage-invoke-value") == "9.25 ms"
    assert colored_pixels(browser, "chart-invoke", (0xFB, 0xBF, 0x24)) >= 10  # the line and its end dot
    browser.wait_for("document.getElementById('chart-publish').dataset.points === '1'")
    assert text_of(browser, "stage-publish-value") == "0.80 ms"

    device.publish(device.topics.available, "stopped", retain=True)
    browser.wait_for("document.getElementById('availability').dataset.state === 'stopped'")
    assert text_of(browser, "availability") == "stopped"
    assert text_of(browser, "broker-state") == "connected"
    assert not [line for line in browser.console if line.startswith(("error", "exception"))], browser.console


def test_page_ignores_a_replayed_older_result_for_the_decision(
    browser: Chromium, dashboard: DashboardServer, device: Device
) -> None:
    open_dashboard(browser, dashboard)
    now = example_result(0)["ts"]
    device.result(example_result(1, ts=now), retain_latest=False)  # "center"
    browser.wait_for("document.getElementById('decision-label').textContent === 'center'")
    device.result(example_result(3, ts=now - 30), retain_latest=False)  # an old "absent", replayed late
    browser.wait_for("document.getElementById('chart-invoke').dataset.points >= '2'")
    assert text_of(browser, "decision-label") == "center"


@pytest.mark.skipif(os.environ.get("EDGE_SDK_UPDATE_SCREENSHOT") != "1", reason="set EDGE_SDK_UPDATE_SCREENSHOT=1 to rewrite docs/dashboard.png")
def test_update_screenshot(browser: Chromium, ws_broker: MosquittoBroker) -> None:
    from edge_sdk.demo.seek.world import render_scene, sample_scene

    device_id = "pi-kitchen"
    rng = np.random.default_rng(7)
    scene = sample_scene(rng, label="left")
    with serve(port=0, ws_url=f"ws://127.0.0.1:{ws_broker.ws_port}/", prefix=PREFIX, device=device_id) as server:
        device = Device(ws_broker, device_id)
        try:
            open_dashboard(browser, server)
            device.publish(device.topics.available, "online", retain=True)
            end_s = float(example_result(0)["ts"])
            count = 120
            for i in range(count):
                ts = end_s - (count - 1 - i) * 0.5
                body = example_result(0, ts=ts)
                body["label"] = scene.label
                body["confidence"] = round(float(np.clip(0.9 + rng.normal(0, 0.03), 0, 0.99)), 3)
                body["scores"] = {"left": body["confidence"], "center": 0.04, "right": 0.02, "absent": 0.03, "blocked": 0.01}
                body["inputs"]["text"] = scene.text
                body["inputs"]["sensor"] = {"distance_cm": round(scene.distance_cm + float(rng.normal(0, 0.4)), 1)}
                body["inputs"]["skew_ms"] = round(float(abs(rng.normal(12, 4))), 1)
                body["timing_ms"] = {"capture": float(abs(rng.normal(4.2, 0.6))),
                                     "preprocess": float(abs(rng.normal(1.3, 0.15))),
                                     "invoke": float(abs(rng.normal(8.6, 0.8)) + (6.0 if i % 37 == 5 else 0.0)),
                                     "post": float(abs(rng.normal(0.22, 0.04)))}
                device.result(body, retain_latest=i == count - 1)
                if i % 4 == 3:
                    device.stats(ts=ts, fps=float(13.8 + rng.normal(0, 0.4)), publish_ms=float(abs(rng.normal(0.7, 0.1))),
                                 results=1480 + i)
            pixels = render_scene(scene, size=240, noise_std=2.0)
            SnapshotPublisher.for_paho(device.client, snapshot_topic(PREFIX, device_id)).offer(pixels, "RGB")
            browser.wait_for("document.getElementById('snapshot').naturalWidth > 0")
            browser.wait_for(f"document.getElementById('result-seq').textContent.startsWith('seq {count}')")
            browser.evaluate("new Promise((resolve) => setTimeout(resolve, 1200))")  # ages tick, charts settle
            SCREENSHOT.parent.mkdir(exist_ok=True)
            browser.screenshot(SCREENSHOT)
        finally:
            device.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_page_works_with_the_embedded_amqtt_brokers_websockets_listener(browser: Chromium) -> None:
    pytest.importorskip("amqtt", reason="needs the broker extra (amqtt)")
    import paho.mqtt.client as mqtt

    from edge_sdk.sinks.mqtt.broker import EmbeddedBroker

    with EmbeddedBroker(port=0, ws_port=0) as broker, \
            serve(port=0, ws_url=f"ws://127.0.0.1:{broker.ws_port}/", prefix=PREFIX, device="pi-embedded") as server:
        open_dashboard(browser, server)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-embedded", protocol=mqtt.MQTTv311)
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            _, payload = ResultStamper("pi-embedded").stamp(example_result(4))  # "blocked"
            topics = Topics(PREFIX, "pi-embedded")
            client.publish(topics.events, encode(payload), qos=1).wait_for_publish(5.0)
            client.publish(topics.available, "online", qos=1, retain=True).wait_for_publish(5.0)
            browser.wait_for("document.getElementById('decision-label').textContent === 'blocked'")
            browser.wait_for("document.getElementById('availability').dataset.state === 'online'")
        finally:
            client.loop_stop()
            client.disconnect()


def test_a_detector_s_result_2_draws_its_boxes_on_the_snapshot(
    browser: Chromium, dashboard: DashboardServer, device: Device
) -> None:
    schema = json.loads(resources.files("edge_sdk").joinpath("schemas", "result-2.json").read_text())
    body = {k: v for k, v in example_result(0).items() if k not in ("label", "confidence", "scores")}
    body.update(schema="edge_sdk.result/2", task="detect", result={"count": 3, "detections": [
        {"box": [0.1, 0.2, 0.4, 0.6], "label": "circle", "class_id": 0, "score": 0.91},
        {"box": [0.5, 0.5, 0.7, 0.9], "label": "circle", "class_id": 0, "score": 0.8},
        {"box": [0.6, 0.1, 0.9, 0.3], "label": "square", "class_id": 1, "score": 0.7}]})
    _, payload = device.stamper.stamp(body)
    jsonschema.validate(payload, schema)
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    assert SnapshotPublisher.for_paho(device.client, snapshot_topic(PREFIX, DEVICE)).offer(frame, "BGR")
    device.publish(device.topics.result, encode(payload), retain=True)
    open_dashboard(browser, dashboard)
    browser.wait_for("document.querySelectorAll('#overlay rect').length === 3")
    assert text_of(browser, "decision-label") == "3 × circle, square"
    assert text_of(browser, "decision-confidence") == "91.0 %"
    browser.wait_for("document.getElementById('snapshot').naturalWidth > 0")
    _, again = device.stamper.stamp(body)  # a new seq: the page draws each result once
    device.publish(device.topics.result, encode(again), retain=True)  # now at the loaded image's size
    browser.wait_for(f"document.getElementById('result-seq').textContent.startsWith('seq {again['seq']}')")
    box = browser.evaluate("""(() => {
        const svg = document.getElementById('overlay'), rect = svg.querySelector('rect');
        return [svg.getAttribute('viewBox'), +rect.getAttribute('x'), +rect.getAttribute('width')];
    })()""")
    width = float(str(box[0]).split()[2])
    assert box[1] == pytest.approx(0.1 * width) and box[2] == pytest.approx(0.3 * width)
