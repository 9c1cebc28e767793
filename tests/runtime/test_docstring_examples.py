"""Every ``>>>`` example in edge_sdk and firmware_bridge runs, against real components.

The names an example takes as given (``model``, ``publisher``, ``set_prompt``, a ``clip.mp4`` in
the working directory) are real objects here, and ``broker.lan`` is a real Mosquitto; expected
output, where an example shows one, must match.
"""

from __future__ import annotations

import doctest
import importlib
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.testing import MosquittoBroker, MQTTRecorder

ROOT = Path(__file__).resolve().parents[2]


def _examples() -> Iterator[tuple[str, doctest.DocTest]]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    for package in ("edge_sdk", "firmware_bridge"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>> " not in path.read_text(encoding="utf-8"):
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for test in finder.find(importlib.import_module(name)):
                if test.examples:
                    yield test.name, test


EXAMPLES = dict(_examples())


def test_the_examples_are_found() -> None:
    assert {"edge_sdk.pipeline.pipeline.Pipeline", "edge_sdk.sinks.mqtt.publisher.MQTTPublisher",
            "edge_sdk.sinks.mqtt.process.PublisherProcess", "edge_sdk.sinks.mqtt.topics.Topics"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docstring_example_runs(name: str, broker: MosquittoBroker, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sdk import FusionModel, JSONLinesSink, SensorSlot, TextSlot, open_frame_source
    from edge_sdk.demo.seek import SeekClip, write_clip
    from edge_sdk.runtime import default_bundle_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the examples' outboxes
    write_clip(tmp_path / "clip.mp4", SeekClip(seconds=1.0, fps=10.0, size=96, seed=2))
    prompts: list[Any] = []
    out, sunk = io.StringIO(), io.StringIO()
    test = EXAMPLES[name]
    recorder = MQTTRecorder(broker.host, broker.port, ["edge_sdk/#"]).start()
    globs: dict[str, Any] = {**test.globs, "time": time, "set_prompt": prompts.append,
                             "open_frame_source": open_frame_source, "TextSlot": TextSlot, "SensorSlot": SensorSlot}
    try:
        with FusionModel.from_bundle(default_bundle_path()) as model:
            globs.update(model=model, publisher=JSONLinesSink("pi-kitchen", sunk).start())
            for example in test.examples:  # broker.lan is the test's broker
                example.source = re.sub(r'host="broker\.lan"', f'host="{broker.host}", port={broker.port}',
                                        example.source)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            runner.run(doctest.DocTest(test.examples, globs, name, test.filename, test.lineno, test.docstring),
                       out=lambda text: out.write(text))
        assert runner.tries == len(test.examples) and runner.failures == 0, out.getvalue()[-3000:]
        if "MQTTConfig(" in test.docstring:  # what arrived at the broker, not what left
            assert recorder.wait_for(lambda got: any(m.topic == "edge_sdk/pi-kitchen/result" for m in got), 10), \
                [(m.topic, m.payload[:80]) for m in recorder.messages]
        if "Pipeline(" in test.docstring:
            assert sunk.getvalue().count('"edge_sdk.result/2"') == 10, sunk.getvalue()[-2000:]
    finally:
        recorder.close()
        os.environ.pop("XDG_STATE_HOME", None)
