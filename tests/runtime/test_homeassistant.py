"""Home Assistant MQTT discovery against a real Mosquitto: configs, re-announcement, templates."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from edge_sdk.configtools import build
from edge_sdk.errors import ConfigError
from edge_sdk.sinks.mqtt import (
    HomeAssistantConfig,
    HomeAssistantDiscovery,
    McuInfo,
    MQTTConfig,
    MQTTPublisher,
    Topics,
)
from edge_sdk.testing import example_result

MCU = McuInfo(name="seek-uno", firmware_version="1.0.0", model="Arduino Uno",
              channels=("distance_cm",), actuators=("motor_left", "motor_right"))
CONFIG_TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor)/pi-test/([A-Za-z0-9_-]+)/config$")
# Home Assistant's documented keys we rely on; anything else in a config would be a typo.
KNOWN_KEYS = {
    "name", "unique_id", "state_topic", "value_template", "json_attributes_topic", "json_attributes_template",
    "unit_of_measurement", "device_class", "state_class", "availability", "device", "origin", "expire_after",
    "icon", "entity_category", "payload_on", "payload_off",
}
DEVICE_KEYS = {"identifiers", "name", "model", "manufacturer", "sw_version", "via_device"}
AVAILABILITY_KEYS = {"topic", "value_template", "payload_available", "payload_not_available"}


def _ha_config(broker: Any, mqtt_config: Any, **ha: Any) -> MQTTConfig:
    return mqtt_config(broker, homeassistant={"enabled": True, **ha})


def _configs(recorder: Any) -> dict[str, Any]:
    """The retained configs a recorder got (an announcement racing its subscription may also come live)."""
    return {m.topic: m for m in recorder.messages if m.topic.endswith("/config") and m.retain}


@pytest.mark.broker
def test_every_discovery_config_is_retained_valid_json_with_the_documented_fields(
    broker, recorder_for, mqtt_config
) -> None:
    live = recorder_for(broker, ["homeassistant/#"])
    with MQTTPublisher(_ha_config(broker, mqtt_config)) as publisher:
        publisher.wait_connected(5)
        assert publisher.announce_homeassistant(mcu=MCU)
        expected = set(publisher.discovery.configs()) if publisher.discovery else set()
        # the broker retains a message before forwarding it: once a live subscriber has every
        # config, a late one must get them all as retained messages
        assert live.wait_for(lambda m: {x.topic for x in m} >= expected, 5)
        late = recorder_for(broker, ["homeassistant/#"])  # subscribes after: sees only what is retained
        assert late.wait_for(lambda _: set(_configs(late)) >= expected, 5), sorted(expected - set(_configs(late)))
    received = _configs(late)
    assert len(expected) == 8
    host_id = "edge_sdk_pi-test"
    for topic, message in received.items():
        assert CONFIG_TOPIC.match(topic), topic
        body = json.loads(message.payload)
        assert set(body) <= KNOWN_KEYS, (topic, set(body) - KNOWN_KEYS)
        for key in ("name", "unique_id", "state_topic", "value_template", "device", "origin"):
            assert body.get(key), (topic, key)
        assert set(body["device"]) <= DEVICE_KEYS and body["device"]["identifiers"], topic
        assert body["origin"]["name"] == "edge_sdk"
        if body["unique_id"] != f"{host_id}_online":
            (availability,) = body["availability"]
            assert set(availability) <= AVAILABILITY_KEYS
            assert availability["topic"] == "edge_sdk/pi-test/available"
            assert (availability["payload_available"], availability["payload_not_available"]) == ("online", "offline")
    bodies = {json.loads(m.payload)["unique_id"].removeprefix(f"{host_id}_"): json.loads(m.payload)
              for m in received.values()}
    assert bodies["confidence"]["unit_of_measurement"] == "%"
    assert bodies["confidence"]["state_class"] == "measurement"
    assert bodies["inference_time"]["unit_of_measurement"] == "ms"
    assert bodies["inference_time"]["device_class"] == "duration"
    assert bodies["fps"]["state_topic"] == "edge_sdk/pi-test/stats"
    assert bodies["decision"]["state_topic"] == "edge_sdk/pi-test/result"
    assert bodies["online"]["device_class"] == "connectivity"
    assert bodies["mcu_distance_cm"]["device_class"] == "distance"
    assert bodies["mcu_distance_cm"]["unit_of_measurement"] == "cm"
    mcu_device = bodies["mcu_distance_cm"]["device"]
    assert mcu_device["via_device"] == host_id
    assert (mcu_device["name"], mcu_device["model"], mcu_device["sw_version"]) == ("seek-uno", "Arduino Uno", "1.0.0")
    assert bodies["decision"]["device"]["identifiers"] == [host_id]
    assert "mcu_motor_state" in bodies and "mcu_link" in bodies


@pytest.mark.broker
def test_configs_are_published_again_when_home_assistant_comes_online(broker, recorder_for, mqtt_config) -> None:
    recorder = recorder_for(broker, ["homeassistant/+/+/+/config"])
    with MQTTPublisher(_ha_config(broker, mqtt_config)) as publisher:
        publisher.wait_connected(5)
        count = len(publisher.discovery.configs()) if publisher.discovery else 0
        assert recorder.wait_for(lambda m: len(m) >= count, 5)
        home_assistant = recorder_for(broker, [])
        home_assistant.client.publish("homeassistant/status", b"offline", qos=1).wait_for_publish(5)
        home_assistant.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
        assert recorder.wait_for(lambda m: len(m) >= 2 * count, 5), len(recorder.messages)
        assert publisher.stats()["homeassistant_announcements"] == 2
    topics = [m.topic for m in recorder.messages]
    assert topics[:count] == topics[count:2 * count]


@pytest.mark.broker
def test_discovery_is_announced_on_every_reconnect(make_broker, recorder_for, mqtt_config) -> None:
    broker = make_broker()
    with MQTTPublisher(_ha_config(broker, mqtt_config)) as publisher:
        publisher.wait_connected(5)
        broker.stop()
        broker.start()  # a fresh broker without persistence: nothing retained survives
        deadline = time.monotonic() + 10
        while publisher.stats()["connects"] < 2:
            assert time.monotonic() < deadline, publisher.stats()
            time.sleep(0.05)
        assert publisher.stats()["homeassistant_announcements"] == 2
        late = recorder_for(broker, ["homeassistant/#"])
        assert late.wait_for(lambda _: len(_configs(late)) >= 5, 5)


@pytest.mark.broker
def test_value_templates_render_against_real_payloads(broker, recorder_for, mqtt_config, result_validator) -> None:
    jinja2 = pytest.importorskip("jinja2")
    recorder = recorder_for(broker, ["edge_sdk/pi-test/result", "edge_sdk/pi-test/stats"])
    with MQTTPublisher(_ha_config(broker, mqtt_config)) as publisher:
        publisher.wait_connected(5)
        publisher.announce_homeassistant(mcu=MCU)
        publisher.publish_result(example_result(1))  # label "center"
        publisher.add_stats_section("actions", lambda: {"current_action": "forward"})
        publisher.add_stats_section("bridge", lambda: {"state": "connected"})
        assert publisher.publish_stats({"fps": 29.5, "stages": {"invoke": {"p50_ms": 8.25, "p95_ms": 9.0}}})
        assert publisher.flush(5)
        configs = publisher.discovery.configs() if publisher.discovery else {}
    assert recorder.wait_for(lambda m: len({x.topic for x in m}) == 2, 5)
    payload_on = {m.topic: m.payload.decode() for m in recorder.messages}
    result_validator.validate(json.loads(payload_on["edge_sdk/pi-test/result"]))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # a missing key fails, not renders ""

    def render(template: str, raw: str) -> str:
        return env.from_string(template).render(value=raw, value_json=json.loads(raw))

    rendered = {
        body["unique_id"].removeprefix("edge_sdk_pi-test_"): render(body["value_template"], payload_on[body["state_topic"]])
        for body in configs.values() if body["state_topic"] in payload_on
    }
    assert rendered == {
        "decision": "center", "confidence": "93.0", "fps": "29.5", "inference_time": "8.25",
        "mcu_distance_cm": "42.0", "mcu_motor_state": "forward", "mcu_link": "connected",
    }
    attributes = configs["homeassistant/sensor/pi-test/decision/config"]["json_attributes_template"]
    assert json.loads(render(attributes, payload_on["edge_sdk/pi-test/result"]))["text"] == "find the red circle"
    # Stats without the pipeline's sections and a result without a label: "None" is Home Assistant's unknown.
    bare_stats = json.dumps({"schema": "edge_sdk.stats/1"})
    for object_id in ("fps", "inference_time", "mcu_motor_state", "mcu_link"):
        component = "sensor"
        template = configs[f"homeassistant/{component}/pi-test/{object_id}/config"]["value_template"]
        assert render(template, bare_stats) == "None", object_id
    no_label = json.dumps({**json.loads(payload_on["edge_sdk/pi-test/result"]), "label": None, "confidence": None,
                           "inputs": {"sensor": None}})
    for object_id in ("decision", "confidence", "mcu_distance_cm"):
        template = configs[f"homeassistant/sensor/pi-test/{object_id}/config"]["value_template"]
        assert render(template, no_label) == "None", object_id
    # what the runtime publishes now: edge_sdk.result/2, the classifier's fields under "result"
    v1 = json.loads(payload_on["edge_sdk/pi-test/result"])
    v2 = {**{k: v for k, v in v1.items() if k not in ("label", "confidence", "scores")}, "schema": "edge_sdk.result/2",
          "task": "classify", "result": {"label": "left", "confidence": 0.5, "scores": v1["scores"], "top_k": []}}
    result_validator.validate(v2)
    for object_id, expected in (("decision", "left"), ("confidence", "50.0")):
        template = configs[f"homeassistant/sensor/pi-test/{object_id}/config"]["value_template"]
        assert render(template, json.dumps(v2)) == expected, object_id
    detections = {**v2, "task": "detect", "result": {"detections": []}}
    assert render(configs["homeassistant/sensor/pi-test/decision/config"]["value_template"],
                  json.dumps(detections)) == "None"
    online = configs["homeassistant/binary_sensor/pi-test/online/config"]
    available = configs["homeassistant/sensor/pi-test/decision/config"]["availability"][0]["value_template"]
    for state, on, present in (("online", "ON", "online"), ("offline", "OFF", "offline"), ("stopped", "OFF", "offline")):
        assert env.from_string(online["value_template"]).render(value=state) == on  # not JSON: no value_json
        assert env.from_string(available).render(value=state) == present


def test_templates_only_read_keys_of_the_result_schema() -> None:
    """Without jinja2 too: every value_json path on the result topic exists in result-1.json, or in
    result-2.json's classification (as ``r.<key>``, the template's alias for either)."""
    from importlib import resources

    schema = json.loads(resources.files("edge_sdk").joinpath("schemas", "result-1.json").read_text())
    v2 = json.loads(resources.files("edge_sdk").joinpath("schemas", "result-2.json").read_text())
    classification = v2["$defs"]["classification"]["properties"]
    discovery = HomeAssistantDiscovery(HomeAssistantConfig(enabled=True), Topics("edge_sdk", "pi-test"), mcu=MCU)
    for topic, body in discovery.configs().items():
        if body["state_topic"] != "edge_sdk/pi-test/result":
            continue
        templates = body["value_template"] + body.get("json_attributes_template", "")
        for key in set(re.findall(r"\br\.(\w+)", templates)):
            assert key in classification and key in schema["properties"], (topic, key)
        for path in set(re.findall(r"value_json((?:\.\w+)+)", templates)) - {".result"}:
            node = schema
            for key in path.strip(".").split("."):
                properties = node.get("properties", {})
                assert key in properties or isinstance(node.get("additionalProperties"), dict), (topic, path)
                node = properties.get(key) or node["additionalProperties"]


def test_unique_ids_are_unique_and_stable_across_restarts(tmp_path) -> None:
    def unique_ids() -> list[str]:
        config = MQTTConfig(device_id="pi.kitchen", homeassistant=HomeAssistantConfig(enabled=True))
        publisher = MQTTPublisher(config)  # a new boot and client id each time
        assert publisher.discovery is not None
        publisher.discovery.mcu = MCU
        return [body["unique_id"] for body in publisher.discovery.configs().values()]

    first, second = unique_ids(), unique_ids()
    assert len(set(first)) == len(first) == 8
    assert first == second
    assert all(uid.startswith("edge_sdk_pi_kitchen_") for uid in first)  # '.' is not allowed in a node id


def test_discovery_prefix_and_node_id_are_configurable() -> None:
    config = build(MQTTConfig, {"device_id": "pi-test", "homeassistant": {
        "enabled": True, "discovery_prefix": "ha/discovery", "node_id": "kitchen", "name": "Kitchen robot",
        "expire_after_s": 30}}, "mqtt")
    discovery = HomeAssistantDiscovery(config.homeassistant, Topics("edge_sdk", "pi-test"))
    configs = discovery.configs()
    assert "ha/discovery/sensor/kitchen/decision/config" in configs
    assert discovery.status_topic == "ha/discovery/status"
    decision = configs["ha/discovery/sensor/kitchen/decision/config"]
    assert decision["device"]["name"] == "Kitchen robot" and decision["expire_after"] == 30
    assert "expire_after" not in configs["ha/discovery/sensor/kitchen/fps/config"]


def test_bad_homeassistant_options_say_what_was_expected() -> None:
    with pytest.raises(ConfigError, match=r"mqtt.homeassistant.discovery_prefix: expected a topic without"):
        build(MQTTConfig, {"device_id": "pi", "homeassistant": {"discovery_prefix": "ha/#"}}, "mqtt")
    with pytest.raises(ConfigError, match=r"mqtt.homeassistant.node_id: expected letters, digits"):
        build(MQTTConfig, {"device_id": "pi", "homeassistant": {"node_id": "a.b"}}, "mqtt")
    with pytest.raises(ConfigError, match=r"mqtt.homeassistant.enable: unknown key. Valid keys"):
        build(MQTTConfig, {"device_id": "pi", "homeassistant": {"enable": True}}, "mqtt")


def test_announce_is_a_no_op_when_discovery_is_off() -> None:
    publisher = MQTTPublisher(MQTTConfig(device_id="pi"))
    assert publisher.discovery is None
    assert publisher.announce_homeassistant(mcu=MCU) is False


def test_mcu_info_comes_from_the_firmware_hello() -> None:
    messages = pytest.importorskip("firmware_bridge.protocol.messages")
    hello = messages.Hello(
        name="seek-uno", firmware_version=(1, 2, 3),
        channels=(messages.ChannelInfo("distance_cm", -1),),
        actuators=(messages.ActuatorInfo("motor_left", -1000, 1000),),
    )
    assert McuInfo.from_hello(hello, model="Arduino Uno") == McuInfo(
        name="seek-uno", firmware_version="1.2.3", model="Arduino Uno",
        channels=("distance_cm",), actuators=("motor_left",),
    )


def test_a_detector_gets_object_counts_per_label_instead_of_a_decision() -> None:
    import jinja2

    from edge_sdk.sinks.mqtt.homeassistant import TaskInfo

    discovery = HomeAssistantDiscovery(HomeAssistantConfig(enabled=True), Topics("edge_sdk", "pi-test"),
                                       task=TaskInfo("detect", ("circle", "square")))
    bodies = {body["unique_id"].removeprefix("edge_sdk_pi-test_"): body for body in discovery.configs().values()}
    assert {"objects", "objects_circle", "objects_square"} <= set(bodies) and "decision" not in bodies
    payload = {"schema": "edge_sdk.result/2", "task": "detect", "result": {"count": 3, "detections": [
        {"box": [0.1, 0.1, 0.2, 0.2], "label": "circle", "class_id": 0, "score": 0.9},
        {"box": [0.3, 0.3, 0.4, 0.4], "label": "circle", "class_id": 0, "score": 0.8},
        {"box": [0.5, 0.5, 0.6, 0.6], "label": "square", "class_id": 1, "score": 0.7}]}}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    rendered = {key: env.from_string(bodies[key]["value_template"]).render(value_json=payload)
                for key in ("objects", "objects_circle", "objects_square")}
    assert rendered == {"objects": "3", "objects_circle": "2", "objects_square": "1"}
    classify = {"schema": "edge_sdk.result/2", "task": "classify", "result": {"label": "x"}}
    assert env.from_string(bodies["objects"]["value_template"]).render(value_json=classify) == "None"
