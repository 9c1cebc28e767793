"""The JSON-lines sink: the same payloads as the publisher, one per line."""

from __future__ import annotations

import io
import json

from edge_sdk.sinks import JSONLinesSink
from edge_sdk.testing import example_result


def test_sink_writes_one_valid_result_per_line(result_validator, stats_validator) -> None:
    stream = io.StringIO()
    with JSONLinesSink("pi-test", stream) as sink:
        seqs = [sink.publish_result(example_result(i)) for i in range(3)]
        sink.publish_stats({"fps": 12.5})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert seqs == [1, 2, 3] and len(lines) == 4
    for line in lines[:3]:
        result_validator.validate(line)
    assert [line["seq"] for line in lines[:3]] == [1, 2, 3]
    stats_validator.validate(lines[3])
    assert lines[3]["fps"] == 12.5
