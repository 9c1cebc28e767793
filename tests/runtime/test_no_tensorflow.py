"""Running a bundle on the device never imports TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_running_a_bundle_never_imports_tensorflow() -> None:
    script = textwrap.dedent(
        """
        import io, json, sys
        from edge_sdk import FusionModel, JSONLinesSink, Pipeline, PipelineConfig, SensorSlot, TextSlot, open_frame_source
        from edge_sdk.runtime import default_bundle_path

        model = FusionModel.from_bundle(default_bundle_path())
        text = TextSlot("text")
        text.set("find the red circle")
        sensor = SensorSlot("sensor", max_age_s=None)
        sensor.update({"distance_cm": 80.0})
        out = io.StringIO()
        sink = JSONLinesSink("no-tf", out).start()
        with Pipeline(model, open_frame_source("seek://?seconds=2&fps=10&size=64", playback="every_frame"), text=text, sensor=sensor,
                      config=PipelineConfig(max_frames=10), sinks=[sink]) as pipeline:
            stats = pipeline.run()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(json.dumps({"results": stats["results"], "heavy": heavy, "lines": len(out.getvalue().splitlines())}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    report = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert report["results"] == 10
    assert report["lines"] >= 10
    assert report["heavy"] == []


def test_importing_edge_sdk_loads_no_heavy_module() -> None:
    code = (
        "import sys, edge_sdk, edge_sdk.cli;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'cv2', 'paho', 'serial', 'tensorflow', 'keras', 'yaml', 'amqtt', 'pandas', 'ai_edge_litert'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
