"""Each result is encoded to JSON once, and the stamped message is the one stamping a copy would give."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest

from edge_sdk.pipeline.fanout import SinkFanout
from edge_sdk.pipeline.result import Result
from edge_sdk.sinks.jsonl import JSONLinesSink
from edge_sdk.sinks.mqtt import payload as payload_module
from edge_sdk.sinks.mqtt.payload import EncodedPayload, ResultStamper, encode
from edge_sdk.tasks.classify import Classification
from edge_sdk.testing import example_result

_MODEL = {"name": "seek", "version": "3", "quant": "int8", "sha256": "ab" * 32}


def _result(i: int = 0, sensor_value: float = 80.0) -> Result:
    scores = {"left": 0.9312345, "center": 0.0171234, "right": 0.05}
    return Result(ts=1764400000.123456, label="left", confidence=0.9312345, scores=scores,
                  frame_ts=1764400000.1012345, frame_index=i, text="find the red circle", text_ts=1764399999.0,
                  sensor={"distance_cm": sensor_value}, sensor_ts=1764400000.0871, skew_ms=14.123,
                  timing_ms={"capture": 4.12345, "preprocess": 1.2, "invoke": 8.5, "post": 0.2}, media_t_s=0.5,
                  task_result=Classification(label="left", confidence=0.9312345, scores=scores,
                                             top_k=tuple(sorted(scores.items(), key=lambda kv: -kv[1]))))


def _stamped_copy(stamper: ResultStamper, result: Any, seq: int, boot: str) -> bytes:
    """What the stamp was before: a stamped copy of the dict, encoded by the standard library."""
    payload = {"schema": stamper.check(result), "device": stamper.device_id, "seq": seq, "boot": boot}
    payload.update(result)
    payload["replayed"] = False
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


@pytest.mark.parametrize("result", [
    _result().to_payload(_MODEL),
    example_result(),  # schema 1, without a schema key
    {"ts": 1.5, "schema": "edge_sdk.result/1", "label": "x"},  # the schema not first
    {"device": "pi-test", "ts": 2.0},  # the device named by the result
    {"schema": "edge_sdk.result/1"},
    {},
], ids=["result/2", "result/1 no schema", "schema not first", "device given", "schema only", "empty"])
def test_stamp_written_around_the_json_equals_a_stamped_copy_key_for_key(result: dict[str, Any]) -> None:
    stamper = ResultStamper("pi-test")
    message = stamper.stamp_encoded(result, stamper.check(result), encode(result), 42)
    assert message == _stamped_copy(stamper, result, 42, stamper.boot)
    other = stamper.stamp_encoded(result, stamper.check(result), encode(result), 7, "b" * 32)
    assert other == _stamped_copy(stamper, result, 7, "b" * 32)


def test_encoded_payload_keeps_its_json_until_it_changes() -> None:
    payload = _result().to_payload(_MODEL)
    assert isinstance(payload, EncodedPayload)
    first = encode(payload)
    assert encode(payload) is first  # kept, not encoded again
    payload["ts"] = 5.0
    assert json.loads(encode(payload))["ts"] == 5.0
    payload.update(label="right")
    assert json.loads(encode(payload))["label"] == "right"
    assert payload.pop("label") == "right" and "label" not in json.loads(encode(payload))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("encoder", ["selected", "json"])
def test_non_finite_numbers_are_refused_by_either_encoder(value: float, encoder: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if encoder == "json":
        monkeypatch.setattr(payload_module, "_encode", payload_module._encode_stdlib)
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode({"ts": 1.0, "inputs": {"sensor": {"distance_cm": value}}, "label": None})
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode(EncodedPayload(confidence=value))


def test_either_encoder_writes_the_same_json_in_the_same_key_order() -> None:
    payload = dict(_result().to_payload(_MODEL), extra={"é": [1e-05, 1e16, -0.0, None, True, 3]})
    fast, plain = payload_module._encode(payload), payload_module._encode_stdlib(payload)
    assert json.loads(fast) == json.loads(plain)
    assert list(json.loads(fast)) == list(payload)


def test_run_encodes_each_result_once_for_the_check_and_every_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = payload_module._encode
    monkeypatch.setattr(payload_module, "_encode",
                        lambda payload: (calls.append(1) if isinstance(payload, dict) else None) or real(payload))
    out_a, out_b = io.StringIO(), io.StringIO()
    first, second = JSONLinesSink("pi-test", out_a).start(), JSONLinesSink("pi-test", out_b).start()
    fanout = SinkFanout([first, second])
    accepted = fanout.publish([_result(i).to_payload(_MODEL) for i in range(5)])
    assert accepted == 5
    assert len(calls) == 5  # the JSON check made them; both sinks wrote those bytes around their stamp
    lines_a = [json.loads(line) for line in out_a.getvalue().splitlines()]
    lines_b = [json.loads(line) for line in out_b.getvalue().splitlines()]
    assert lines_a == lines_b and [m["seq"] for m in lines_a] == [1, 2, 3, 4, 5]
    assert list(lines_a[0])[:4] == ["schema", "device", "seq", "boot"] and list(lines_a[0])[-1] == "replayed"


def test_a_result_that_is_not_json_takes_no_seq() -> None:
    out = io.StringIO()
    sink = JSONLinesSink("pi-test", out).start()
    with pytest.raises(ValueError, match="not JSON compliant"):
        sink.publish_result(_result(sensor_value=math.nan).to_payload(_MODEL))
    assert sink.publish_result(_result().to_payload(_MODEL)) == 1
    assert json.loads(out.getvalue())["seq"] == 1
