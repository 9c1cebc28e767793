"""Describing frames on the device never imports TensorFlow or Keras (the bundle is built with them)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    from edge_sdk import JSONLinesSink, Pipeline, PipelineConfig, TextSlot, open_frame_source
    from edge_sdk.describe import DescribeConfig, DescribeGate, GenerateServing

    model = GenerateServing.open(sys.argv[1], beam_size=2)
    text = None
    if model.mode == "translate":
        text = TextSlot("text")
        text.set("go to the blue square")
    out = io.StringIO()
    sink = JSONLinesSink("no-tf", out).start()
    frames = open_frame_source("seek://?seconds=1&fps=10&size=64", playback="every_frame")
    with Pipeline(model, frames, text=text, config=PipelineConfig(max_frames=3), sinks=[sink]) as pipeline:
        pipeline.add_frame_gate(DescribeGate(DescribeConfig(every_s=0.2), on_text=text is not None))
        stats = pipeline.run()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    lines = [r for r in map(json.loads, out.getvalue().splitlines()) if r.get("schema") == "edge_sdk.result/2"]
    print(json.dumps({"results": stats["results"], "gated": stats["drops"]["gated"], "heavy": heavy,
                      "texts": [line["result"]["text"] for line in lines], "modes": [line["result"]["mode"] for line in lines]}))
    """
)


def _run(bundle: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(bundle)], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_captioning_frames_never_imports_tensorflow(tiny_captioner: Path) -> None:
    report = _run(tiny_captioner)
    assert report["heavy"] == []
    assert report["results"] == 3 and report["gated"] == 2  # frames at 0, 0.2, 0.4 s; 0.1, 0.3 passed over
    assert report["modes"] == ["caption"] * 3


def test_translating_never_imports_tensorflow(tiny_translator: Path) -> None:
    report = _run(tiny_translator)
    assert report["heavy"] == [] and report["results"] == 3 and report["modes"] == ["translate"] * 3
