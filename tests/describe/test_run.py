"""``edge-sdk run`` with a generate bundle and a real Mosquitto: captions, and translations of a fixed text.

The descriptions arrive on ``<prefix>/<device>/caption`` (``translation``) as ``edge_sdk.caption/1``,
validated against ``edge_sdk/schemas/caption-1.json``; the same descriptions also take the durable
result path (``events``, through the outbox).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edge_sdk import Runtime, parse_config
from edge_sdk.testing import MosquittoBroker, MQTTRecorder

pytestmark = pytest.mark.broker


def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("edge_sdk").joinpath("schemas", name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def caption_validator() -> jsonschema.protocols.Validator:
    return _validator("caption-1.json")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("needs the mosquitto binary (apt-get install mosquitto)")
    broker = MosquittoBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _descriptions(recorder: MQTTRecorder, topic: str) -> list[dict[str, Any]]:
    """The payloads on ``topic``, a repeat of the same (boot, seq) dropped as a consumer does."""
    seen, out = set(), []
    for payload in (m.json() for m in recorder.messages if m.topic == topic):
        if (payload["boot"], payload["seq"]) not in seen:
            seen.add((payload["boot"], payload["seq"]))
            out.append(payload)
    return out


def _config(bundle: Path, broker: MosquittoBroker, tmp_path: Path, device: str, **sections: Any) -> Any:
    return parse_config({
        "device": device,
        "model": {"path": str(bundle)},
        "camera": {"source": "seek://?seconds=2&fps=10&size=64", "playback": "every_frame"},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1, "drain_timeout_s": 5.0,
                 "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
        "output": {"snapshot_hz": 0},
        **sections,
    })


def test_run_publishes_captions_that_validate(tiny_captioner: Path, broker: MosquittoBroker, tmp_path: Path,
                                              caption_validator: jsonschema.protocols.Validator) -> None:
    config = _config(tiny_captioner, broker, tmp_path, "pi-cap", describe={"every_s": 0.5, "beam_size": 2})
    with MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-cap/#"]) as recorder, Runtime(config) as runtime:
        summary = runtime.run()  # 20 frames of the clip's own time, every_frame: the same frames each run
        assert recorder.wait_for(lambda ms: sum(m.topic == "edge_sdk/pi-cap/caption" for m in ms) >= 4, 10.0)
        assert recorder.wait_for(lambda ms: sum(m.topic.endswith("/events") for m in ms) >= 4, 10.0)
        assert recorder.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms), 10.0)
    captions = _descriptions(recorder, "edge_sdk/pi-cap/caption")
    for payload in captions:
        caption_validator.validate(payload)
    assert [c["seq"] for c in captions] == [1, 2, 3, 4]  # frames at 0, 0.5, 1.0 and 1.5 s of the 2 s clip
    first = captions[0]
    assert first["device"] == "pi-cap" and first["task"] == "caption" and first["source_text"] is None
    assert first["beam_size"] == 2 and first["model"]["name"] == "captioner"
    assert first["total_ms"] == pytest.approx(first["encode_ms"] + first["decode_ms"], abs=1e-2)
    assert first["text"] == " ".join(first["tokens"])
    # every description is also a result on the durable path, the same text
    events = _descriptions(recorder, "edge_sdk/pi-cap/events")
    assert [e["result"]["text"] for e in events] == [c["text"] for c in captions]
    assert all(e["task"] == "generate" and e["result"]["mode"] == "caption" for e in events)
    result_validator = _validator("result-2.json")
    for event in events:
        result_validator.validate(event)
    assert summary["results"] == 4 and summary["drops"]["gated"] == 16
    assert summary["describe"]["gate"]["due_first"] == 1 and summary["describe"]["gate"]["due_every_s"] == 3
    assert summary["describe"]["published"] == 4
    stats = [m.json() for m in recorder.messages if m.topic == "edge_sdk/pi-cap/stats"]
    assert stats and stats[-1]["describe"]["gate"]["due_every_s"] == 3  # the final stats, with a describe section


def test_run_translates_a_fixed_text_given_the_frame(tiny_translator: Path, broker: MosquittoBroker,
                                                     tmp_path: Path,
                                                     caption_validator: jsonschema.protocols.Validator) -> None:
    config = _config(tiny_translator, broker, tmp_path, "pi-tr", describe={"every_s": 0},
                     text={"source": "fixed", "prompt": "go to the blue square"})
    with MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-tr/#"]) as recorder, Runtime(config) as runtime:
        summary = runtime.run()
        assert recorder.wait_for(lambda ms: any(m.topic == "edge_sdk/pi-tr/translation" for m in ms), 10.0)
        assert recorder.wait_for(lambda ms: any(m.topic.endswith("/events") for m in ms), 10.0)
    translations = _descriptions(recorder, "edge_sdk/pi-tr/translation")
    assert len(translations) == 1  # one text, never changed: translated once (every_s 0)
    caption_validator.validate(translations[0])
    assert translations[0]["task"] == "translate" and translations[0]["source_text"] == "go to the blue square"
    event = _descriptions(recorder, "edge_sdk/pi-tr/events")[0]
    assert event["inputs"]["text"] == "go to the blue square"
    assert event["result"]["text"] == translations[0]["text"]
    _validator("result-2.json").validate(event)
    assert summary["describe"]["mode"] == "translate" and summary["results"] == 1


def test_a_translator_without_a_text_source_is_refused(tiny_translator: Path, broker: MosquittoBroker,
                                                       tmp_path: Path) -> None:
    config = _config(tiny_translator, broker, tmp_path, "pi-notext")
    with pytest.raises(ValueError, match=r"text.source: the model 'translator' takes a text input \('source'\)"):
        Runtime(config)


def test_a_text_command_over_mqtt_is_translated_given_the_current_frame(
        tiny_translator: Path, broker: MosquittoBroker, tmp_path: Path,
        caption_validator: jsonschema.protocols.Validator) -> None:
    config = _config(tiny_translator, broker, tmp_path, "pi-mq", describe={"every_s": 0},
                     text={"source": "mqtt"}, camera={"source": "seek://?seconds=600&fps=20&size=64"})
    with MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-mq/#"]) as recorder, Runtime(config) as runtime:
        runner = threading.Thread(target=runtime.run, name="test-runtime")
        runner.start()
        try:
            runtime.publisher.wait_connected(5.0)
            _wait_until(lambda: runtime.publisher.stats()["commands_subscribed"], 5.0)  # commands sent now arrive
            for sentence in ("go to the blue square", "where is the red triangle"):
                recorder.client.publish("edge_sdk/pi-mq/cmd/text", sentence.encode(), qos=1)
                assert recorder.wait_for(lambda ms, s=sentence: any(
                    m.topic == "edge_sdk/pi-mq/translation" and m.json()["source_text"] == s for m in ms), 10.0)
        finally:
            runtime.stop()
            runner.join(15.0)
    translations = _descriptions(recorder, "edge_sdk/pi-mq/translation")
    for payload in translations:
        caption_validator.validate(payload)
    assert [t["source_text"] for t in translations] == ["go to the blue square", "where is the red triangle"]
    assert runtime.summary()["describe"]["gate"]["due_text"] == 1  # the first was due_first


def test_a_swapped_in_captioner_names_itself_in_the_captions_it_makes(
        tiny_captioner: Path, broker: MosquittoBroker, tmp_path: Path,
        caption_validator: jsonschema.protocols.Validator) -> None:
    from edge_sdk.describe.serving import GenerateServing

    config = _config(tiny_captioner, broker, tmp_path, "pi-swap", describe={"every_s": 0.2},
                     camera={"source": "seek://?seconds=600&fps=20&size=64"})
    topic = "edge_sdk/pi-swap/caption"
    with MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-swap/#"]) as recorder, Runtime(config) as runtime:
        runner = threading.Thread(target=runtime.run, name="test-runtime")
        runner.start()
        try:
            assert recorder.wait_for(lambda ms: any(m.topic == topic for m in ms), 10.0)
            assert runtime.pipeline is not None
            runtime.pipeline.swap_model(GenerateServing.open(tiny_captioner.with_name("captioner_float32.tflite"))
                                        ).close()
            assert recorder.wait_for(lambda ms: any(
                m.topic == topic and m.json()["model"]["quant"] == "float32" for m in ms), 10.0)
        finally:
            runtime.stop()
            runner.join(15.0)
    quants = [c["model"]["quant"] for c in _descriptions(recorder, topic)]
    assert quants[0] == "int8" and quants[-1] == "float32"
    assert quants == sorted(quants, key=lambda q: q == "float32")  # never back: int8 until the swap, then float32
    for payload in _descriptions(recorder, topic):
        caption_validator.validate(payload)


def test_captions_made_while_the_broker_is_down_arrive_later_marked_replayed(
        tiny_captioner: Path, broker: MosquittoBroker, tmp_path: Path,
        caption_validator: jsonschema.protocols.Validator) -> None:
    """The caption topic has the outbox's guarantee: what a run described with no broker is committed,
    and the next run on the same outbox delivers it (``replayed``) before its own descriptions."""
    broker.stop()
    down = _config(tiny_captioner, broker, tmp_path, "pi-cap-down", describe={"every_s": 0.5, "beam_size": 1})
    # the broker stays down: the run ends with its captions in the outbox
    down = dataclasses.replace(down, mqtt=dataclasses.replace(down.mqtt, drain_timeout_s=0.3))
    with Runtime(down) as runtime:
        summary = runtime.run()
    assert summary["describe"]["published"] == 4 and summary["describe"]["failed"] == 0
    broker.start()
    up = _config(tiny_captioner, broker, tmp_path, "pi-cap-down", describe={"every_s": 0.5, "beam_size": 1})
    with MQTTRecorder(broker.host, broker.port, ["edge_sdk/pi-cap-down/#"]) as recorder, Runtime(up) as runtime:
        runtime.run()
        assert recorder.wait_for(lambda ms: sum(m.topic.endswith("/caption") for m in ms) >= 8, 15.0)
    captions = _descriptions(recorder, "edge_sdk/pi-cap-down/caption")
    for payload in captions:
        caption_validator.validate(payload)
    first_boot = [c for c in captions if c.get("replayed")]
    assert [c["seq"] for c in first_boot] == [1, 2, 3, 4]
    assert len({c["boot"] for c in first_boot}) == 1
    second_boot = [c for c in captions if not c.get("replayed")]
    assert [c["seq"] for c in second_boot] == [1, 2, 3, 4] and second_boot[0]["boot"] != first_boot[0]["boot"]
    # every_frame playback: the same frames, so the same captions, run after run
    assert [c["text"] for c in first_boot] == [c["text"] for c in second_boot]
