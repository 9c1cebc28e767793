"""The Node-RED flow and the Telegraf config in examples/: structure, topics, and paths that exist."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.pipeline.stats import StageTimes
from edge_sdk.sinks.mqtt.payload import ResultStamper
from edge_sdk.sinks.mqtt.topics import Topics
from edge_sdk.testing import example_result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW = EXAMPLES / "node-red" / "seek-flow.json"
TELEGRAF = EXAMPLES / "telegraf" / "edge_sdk.conf"
ANY_DEVICE = Topics("edge_sdk", "+")
OUR_TOPICS = {ANY_DEVICE.result, ANY_DEVICE.events, ANY_DEVICE.available, ANY_DEVICE.stats}
NODE = shutil.which("node") or shutil.which("nodejs")


def load_flow() -> list[dict[str, Any]]:
    nodes = json.loads(FLOW.read_text())
    assert isinstance(nodes, list)
    return nodes


def test_node_red_flow_ids_are_unique_and_every_reference_resolves() -> None:
    nodes = load_flow()
    ids = [node["id"] for node in nodes]
    assert len(ids) == len(set(ids))
    by_id = {node["id"]: node for node in nodes}
    tabs = {node["id"] for node in nodes if node["type"] == "tab"}
    assert len(tabs) == 1
    for node in nodes:
        if node["type"] in ("tab", "mqtt-broker"):
            continue
        assert node["z"] in tabs, node["id"]
        for output in node["wires"]:
            for target in output:
                assert target in by_id, f"{node['id']} wires to missing {target}"
        if node["type"] == "mqtt in":
            assert by_id[node["broker"]]["type"] == "mqtt-broker"
        if node["type"] == "switch":
            assert node["outputs"] == len(node["rules"]) == len(node["wires"])


def test_node_red_flow_subscribes_to_our_topics_and_routes_every_seek_label() -> None:
    nodes = load_flow()
    topics = {node["topic"] for node in nodes if node["type"] == "mqtt in"}
    assert ANY_DEVICE.result in topics
    assert topics <= OUR_TOPICS
    switch = next(node for node in nodes if node["type"] == "switch")
    assert switch["property"] == "payload.label"
    assert [rule["v"] for rule in switch["rules"]] == ["left", "center", "right", "absent", "blocked"]


@pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)")
def test_node_red_functions_drop_duplicates_and_write_a_text_line() -> None:
    """The function nodes' code, run as Node-RED runs it, on a real stamped result."""
    functions = {node["name"]: node["func"] for node in load_flow() if node["type"] == "function"}
    _, payload = ResultStamper("pi-kitchen").stamp(example_result(0))
    harness = """
const [functions, payload] = JSON.parse(process.argv[1]);
const store = {};
const context = { get: (k) => store[k], set: (k, v) => { store[k] = v; } };
const statuses = [];
const node = { warn: (m) => { throw new Error(m); }, status: (s) => statuses.push(s) };
const run = (code, msg) => new Function("msg", "node", "context", code)(msg, node, context);
const first = run(functions["drop duplicates"], { payload });
const again = run(functions["drop duplicates"], { payload });
const line = run(functions["text line"], { payload }).payload;
console.log(JSON.stringify({ first: first && first.topic, again, line, status: statuses[0].text }));
"""
    argument = json.dumps([functions, payload])
    result = subprocess.run([NODE, "-e", harness, argument], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["first"] == "pi-kitchen/decision"
    assert out["again"] is None
    assert out["line"] == 'pi-kitchen #1: left (93 %) | "find the red circle" | distance_cm=42'
    assert out["status"] == "left 93 %"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """json_v2's object flattening: nested keys joined with '_'."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flatten(item, f"{prefix}_{key}" if prefix else key))
    return out


def realistic_stats(tmp_path: Path) -> dict[str, Any]:
    """A stats payload as the runtime sends it: the pipeline's section and a real publisher's."""
    from edge_sdk.configtools import build
    from edge_sdk.pipeline.pipeline import _STAGES
    from edge_sdk.sinks.mqtt import MQTTConfig
    from edge_sdk.sinks.mqtt.publisher import MQTTPublisher

    times = StageTimes(_STAGES)
    for stage in _STAGES:
        times.record(stage, 1.0)
    config = build(MQTTConfig, {"device_id": "pi", "outbox": {"path": str(tmp_path / "outbox.sqlite3")}}, "mqtt")
    publisher = MQTTPublisher(config)
    try:
        mqtt_stats = publisher.stats()
    finally:
        publisher.close()
    # The keys of Pipeline.stats() (edge_sdk/pipeline/pipeline.py).
    pipeline = {"state": "running", "results": 10, "published": 10, "fps": 14.0, "fps_recent": 14.2,
                "stages": times.summary(), "drops": {"frames": 0, "dispatch": 0, "incomplete_inputs": 0},
                "queues": {"frames": 0, "dispatch": 0}, "capture": {"frames_read": 10, "read_failures": 0, "reconnects": 0},
                "align": {}, "callback_errors": 0}
    return ResultStamper("pi").stats_payload({**pipeline, "mqtt": mqtt_stats}, 1764400000.0)


def test_telegraf_config_parses_and_reads_keys_that_stats_and_results_have(tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads(TELEGRAF.read_text())
    consumers = config["inputs"]["mqtt_consumer"]
    assert {topic for consumer in consumers for topic in consumer["topics"]} == {ANY_DEVICE.stats, ANY_DEVICE.events}
    for consumer in consumers:
        assert consumer["data_format"] == "json_v2"
        (parsing,) = consumer["topic_parsing"]
        assert parsing["topic"] == consumer["topics"][0]
        assert parsing["tags"].split("/") == ["_", "device", "_"]
        assert consumer["json_v2"][0]["timestamp_path"] == "ts"

    stats_consumer = next(c for c in consumers if c["topics"] == [ANY_DEVICE.stats])
    flat = flatten(realistic_stats(tmp_path))
    (selection,) = stats_consumer["json_v2"][0]["object"]
    missing = [key for key in selection["included_keys"] if key not in flat]
    assert not missing, f"stats payload has no {missing}"
    assert all(isinstance(flat[key], (int, float, bool)) for key in selection["included_keys"])

    result_consumer = next(c for c in consumers if c["topics"] == [ANY_DEVICE.events])
    _, result = ResultStamper("pi").stamp(example_result(0))
    for entry in result_consumer["json_v2"][0]["field"] + result_consumer["json_v2"][0]["tag"]:
        value: Any = result
        for part in entry["path"].split("."):
            value = value[part]
        assert isinstance(value, (int, float, str)), entry["path"]
