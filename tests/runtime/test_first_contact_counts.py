"""What ``edge-sdk run`` counts, in real processes against a real Mosquitto (issue 15).

Every rejected text and reading is counted by reason on the stats topic and in the summary (the log
says only the first five); ``published`` is what the sinks took, and no sink means no ``published=N``;
the JSON-lines output and the MQTT messages of a result carry the same ``(boot, seq)``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.testing import MosquittoBroker, MQTTRecorder

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]

BAD_READINGS = [b'{"distance_cm": 1e999}'] * 6 + [b"{not json", b"{still not", b"[1, 2]", b'{"distance_cm": "near"}']
BAD_TEXTS = [b'{"text": 5}', b"x" * 1001, b"{bad json"]


def _run(config: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    path = tmp_path / "device.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(path), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _stop(process: subprocess.Popen[str], timeout_s: float = 60.0) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def _mqtt(broker: MosquittoBroker, tmp_path: Path) -> dict[str, Any]:
    return {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
            "outbox": {"path": str(tmp_path / "outbox.sqlite3")}}


def _wait_connected(recorder: MQTTRecorder, device: str, process: subprocess.Popen[str]) -> None:
    online, stats = f"edge_sdk/{device}/available", f"edge_sdk/{device}/stats"
    # online, then a stats message sent after it: the command subscription is in place by then
    ok = recorder.wait_for(lambda ms: any(m.topic == online and m.payload == b"online" for m in ms)
                           and any(m.topic == stats for m in ms) or process.poll() is not None, 60.0)
    assert ok and process.poll() is None, "the run did not come online"


def test_every_rejected_reading_and_text_is_counted_by_reason(make_broker: Callable[..., MosquittoBroker],
                                                              recorder_for: Any, tmp_path: Path) -> None:
    broker = make_broker()
    device = "pi-rejects"
    recorder = recorder_for(broker, [f"edge_sdk/{device}/#"])
    process = _run({"device": device, "camera": {"source": "seek://?seconds=600&fps=20&size=64"},
                    "text": {"source": "mqtt"}, "sensor": {"source": "mqtt", "max_age_s": None},
                    "pipeline": {"stats_interval_s": 0.3}, "mqtt": _mqtt(broker, tmp_path)}, tmp_path)
    try:
        _wait_connected(recorder, device, process)
        for payload in BAD_READINGS:
            recorder.client.publish(f"edge_sdk/{device}/cmd/sensor", payload, qos=1)
        for payload in BAD_TEXTS:
            recorder.client.publish(f"edge_sdk/{device}/cmd/text", payload, qos=1)
        recorder.client.publish(f"edge_sdk/{device}/cmd/sensor", b'{"distance_cm": 40.0}', qos=1)
        recorder.client.publish(f"edge_sdk/{device}/cmd/text", b"find the red circle", qos=1)

        def counted(messages: list[Any]) -> bool:
            stats = [m.json() for m in messages if m.topic.endswith("/stats")]
            return bool(stats) and stats[-1]["inputs"]["sensor"]["rejected"] == 10 \
                and stats[-1]["inputs"]["text"]["rejected"] == 3

        assert recorder.wait_for(counted, 30.0), "the stats topic never showed the rejections"
    finally:
        _, err = _stop(process)
    assert process.returncode == 0, err[-3000:]
    stats = [m.json() for m in recorder.messages if m.topic.endswith("/stats")][-1]
    sensor, text = stats["inputs"]["sensor"], stats["inputs"]["text"]
    assert sensor["rejected_by"] == {"non_finite": 6, "not_json": 2, "not_number": 1, "not_object": 1}
    assert text["rejected_by"] == {"not_json": 1, "not_text": 1, "too_long": 1}
    # the log says the first five of each; the summary says all of them, by reason
    assert err.count("sensor:mqtt: rejected input") == 5, err[-3000:]
    line = next(line for line in err.splitlines() if line.startswith("edge-sdk run: inputs "))
    assert "sensor 1 updates, 10 rejected (non_finite=6, not_json=2, not_number=1, not_object=1)" in line, line
    assert "text 1 updates, 3 rejected (not_json=1, not_text=1, too_long=1)" in line, line


def test_jsonl_and_mqtt_carry_one_stamp_per_result(make_broker: Callable[..., MosquittoBroker], recorder_for: Any,
                                                   tmp_path: Path) -> None:
    broker = make_broker()
    device = "pi-stamps"
    recorder = recorder_for(broker, [f"edge_sdk/{device}/events"])
    config = tmp_path / "device.json"
    config.write_text(json.dumps({"device": device, "camera": {"source": "seek://?seconds=4&fps=15&size=64"},
                                  "text": {"prompt": "find the red circle"},
                                  "sensor": {"source": "stdin", "max_age_s": None},
                                  "mqtt": _mqtt(broker, tmp_path), "output": {"stdout_jsonl": True}}))
    process = subprocess.Popen([sys.executable, "-m", "edge_sdk.cli", "run", "--config", str(config)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    assert process.stdin is not None
    process.stdin.write('{"distance_cm": 80.0}\n')
    process.stdin.flush()
    out, err = process.communicate(timeout=120)  # the clip ends by itself
    assert process.returncode == 0, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines()]
    jsonl = {(r["boot"], r["seq"]) for r in lines if r["schema"].startswith("edge_sdk.result/")}
    assert recorder.wait_for(lambda ms: len({(m.json()["boot"], m.json()["seq"]) for m in ms}) >= len(jsonl), 30.0)
    mqtt = {(m.json()["boot"], m.json()["seq"]) for m in recorder.messages}
    assert len(jsonl) > 10
    assert jsonl == mqtt  # joined on (boot, seq): the same results, the same stamps
    assert {r["boot"] for r in lines} == {boot for boot, _ in mqtt}  # the stats lines too
    published = int(re.search(r"edge-sdk run: results=\d+ published=(\d+)", err).group(1))  # type: ignore[union-attr]
    assert published == len(jsonl)
    assert re.search(rf"edge-sdk run: sink jsonl: state=\S+ accepted={published} ", err), err[-3000:]
    assert re.search(rf"edge-sdk run: sink mqtt: state=closed accepted={published} acked=\d+ refused_by_broker=0 "
                     r"connect_failures=0 ", err), err[-3000:]


def test_a_run_with_no_sink_does_not_say_published(tmp_path: Path) -> None:
    process = _run({"device": "pi-nosink", "camera": {"source": "seek://?seconds=2&fps=15&size=64"},
                    "text": {"prompt": "find the red circle"}, "sensor": {"source": "file",
                                                                         "path": str(_sensor_file(tmp_path))},
                    "embedded_broker": {"enabled": False}, "pipeline": {"max_frames": 10}}, tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    summary = next(line for line in err.splitlines() if line.startswith("edge-sdk run: results="))
    assert "results=10 published=none (no sink" in summary, summary
    assert "published=10" not in err and "published=0" not in err


def _sensor_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.sensor"
    path.write_text("".join(json.dumps({"t_s": i / 10, "distance_cm": 80.0}) + "\n" for i in range(100)))
    return path


def _tiny_tflite(nan: bool) -> bytes:
    """A real .tflite: image (1, 4, 4, 3) -> MEAN -> scores m, or with ``nan`` (m - m) / (m - m), all NaN."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, shape: tuple[int, ...], dtype: int, buffer: int = 0) -> Any:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, buffer
        return t

    def op(opcode: int, inputs: list[int], outputs: list[int]) -> Any:
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode, inputs, outputs
        return o

    def code(builtin: int) -> Any:
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 1
        return c

    def buffer(data: Any = None) -> Any:
        b = s.BufferT()
        if data is not None:
            b.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
        return b

    import numpy as np

    f32 = s.TensorType.FLOAT32
    tensors = [tensor("image", (1, 4, 4, 3), f32), tensor("axes", (2,), s.TensorType.INT32, buffer=1),
               tensor("mean" if nan else "scores", (1, 3), f32), tensor("zero", (1, 3), f32),
               tensor("scores" if nan else "unused", (1, 3), f32)]
    mean = op(0, [0, 1], [2])
    mean.builtinOptionsType, mean.builtinOptions = s.BuiltinOptions.ReducerOptions, s.ReducerOptionsT()
    sub = op(1, [2, 2], [3])
    sub.builtinOptionsType, sub.builtinOptions = s.BuiltinOptions.SubOptions, s.SubOptionsT()
    div = op(2, [3, 3], [4])
    div.builtinOptionsType, div.builtinOptions = s.BuiltinOptions.DivOptions, s.DivOptionsT()
    subgraph = s.SubGraphT()
    subgraph.tensors, subgraph.inputs = tensors, [0]
    subgraph.outputs, subgraph.operators = ([4], [mean, sub, div]) if nan else ([2], [mean])
    model = s.ModelT()
    model.version, model.subgraphs = 3, [subgraph]
    model.operatorCodes = [code(s.BuiltinOperator.MEAN), code(s.BuiltinOperator.SUB), code(s.BuiltinOperator.DIV)]
    model.buffers = [buffer(), buffer(np.array([1, 2], np.int32))]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_a_run_whose_results_are_never_json_fails_and_publishes_nothing(make_broker: Callable[..., MosquittoBroker],
                                                                        recorder_for: Any, tmp_path: Path) -> None:
    bundle = _tiny_bundle(tmp_path, nan=True)
    broker = make_broker()
    device = "pi-nan"
    recorder = recorder_for(broker, [f"edge_sdk/{device}/events"])
    # delivery in its own process (the default on two CPUs), where "not JSON" used to be logged and forgotten
    process = _run({"device": device, "model": {"path": str(bundle)},
                    "camera": {"source": "seek://?seconds=2&fps=15&size=64", "playback": "every_frame"},
                    "mqtt": {**_mqtt(broker, tmp_path), "delivery": "process"}}, tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"edge-sdk run: no result was published: all 30 were refused; the last: a result is not "
                        r"JSON \(classify scores\['red'\] is nan: .*\): not published", last), err[-3000:]
    assert "Traceback" not in err
    assert err.count("is not JSON") == 6  # five logged, then counted; the last line says it once more
    assert recorder.messages == []


def _tiny_bundle(tmp_path: Path, nan: bool) -> Path:
    pytest.importorskip("ai_edge_litert")
    from edge_sdk.bundle import ModelInfo
    from edge_sdk.bundle.wrap import InputDescription, OutputDescription, wrap_tflite
    from edge_sdk.preprocess import ImageSpec

    raw = tmp_path / f"tiny-{nan}.tflite"
    raw.write_bytes(_tiny_tflite(nan))
    bundle = tmp_path / f"tiny-{nan}-bundle.tflite"
    wrap_tflite(raw, bundle, [InputDescription("image", ImageSpec(width=4, height=4), "image")],
                [OutputDescription(("red", "green", "blue"), name="scores")], ModelInfo("tiny", "1"),
                task={"kind": "classify", "outputs": {"scores": "scores"}, "params": {"activation": "softmax"}})
    return bundle


def test_a_result_that_is_not_json_is_counted_and_the_others_published_with_joinable_stamps(
        make_broker: Callable[..., MosquittoBroker], mqtt_config: Any, recorder_for: Any, tmp_path: Path) -> None:
    """A reading from the bridge is trusted as it comes (``SensorSlot.update``); a NaN one makes that result's
    payload something that is not JSON. The delivery process used to log it and the run counted it published;
    a JSON-lines sink raised and ended the run."""
    import io

    from edge_sdk import FusionModel, JSONLinesSink, Pipeline, SensorSlot, open_frame_source
    from edge_sdk.demo.seek import SeekClip, write_clip
    from edge_sdk.sinks.mqtt.process import PublisherProcess

    clip = write_clip(tmp_path / "seek.mp4", SeekClip(seconds=2.0, fps=15.0, size=64, seed=4))
    broker = make_broker()
    recorder = recorder_for(broker, ["edge_sdk/pi-test/events"])
    sensor = SensorSlot("sensor:bridge", max_age_s=None)
    sensor.update({"distance_cm": 80.0}, 0.0)
    frames = {"n": 0}

    def every_third_nan(frame: Any, result: Any) -> None:  # on the worker, for the next frame's alignment
        frames["n"] += 1
        sensor.update({"distance_cm": float("nan") if frames["n"] % 3 == 0 else 80.0}, frame.timestamp_s)

    out = io.StringIO()
    publisher = PublisherProcess(mqtt_config(broker)).start()
    with FusionModel.from_bundle(_tiny_bundle(tmp_path, nan=False)) as model, \
            Pipeline(model, open_frame_source(f"file://{clip.video}", playback="every_frame"), sensor=sensor,
                     sinks=[publisher, JSONLinesSink("pi-test", out).start()], on_frame=every_third_nan) as pipeline:
        stats = pipeline.run()
    results = [r for r in map(json.loads, out.getvalue().splitlines()) if r["schema"].startswith("edge_sdk.result/")]
    refused = stats["drops"]["unencodable"]
    assert stats["results"] == 30 and 8 <= refused <= 10
    assert stats["published"] == len(results) == stats["results"] - refused
    assert stats["sinks"]["mqtt"] == {"accepted": len(results)}
    assert stats["sinks"]["jsonl"]["accepted"] == len(results)
    assert [r["seq"] for r in results] == list(range(1, len(results) + 1))  # no seq spent on a refused result
    assert recorder.wait_for(lambda ms: len(ms) >= len(results), 20.0)
    assert {(m.json()["boot"], m.json()["seq"]) for m in recorder.messages} == {(r["boot"], r["seq"]) for r in results}
    assert publisher.stats()["unencodable"] == 0  # refused before the delivery process, not inside it
