"""Every example in examples/ runs, small and short, and does what its one line says."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ("seek_robot.py", "smart_camera_own_data.py", "camera_sensor_anomaly.py", "bring_your_own_tflite.py")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{Path(name).stem}", EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_is_short_and_described_in_one_line_here_and_in_the_readme(name: str) -> None:
    source = (EXAMPLES / name).read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring and docstring.splitlines()[0].strip(), f"{name} has no one-line description"
    assert len(source.splitlines()) <= 100
    readme = (EXAMPLES / "README.md").read_text()
    assert re.search(rf"`{re.escape(name)}`", readme), f"{name} is not listed in examples/README.md"


@pytest.mark.slow
def test_seek_robot_drives_the_simulated_motors(tmp_path: Path) -> None:
    outcome = load("seek_robot.py").main(["--seconds", "4", "--out", str(tmp_path)])
    assert outcome["results"] > 30  # about 15 fps
    assert outcome["commands_acked"] >= 1  # at least the safe stop, acknowledged by the firmware
    assert outcome["applied"] >= 1  # and applied by it


def test_camera_sensor_anomaly_flags_the_injected_glitches(tmp_path: Path) -> None:
    module = load("camera_sensor_anomaly.py")
    flagged = module.main(["--seconds", "9", "--out", str(tmp_path)])
    for glitch_s in module.GLITCH_AT_S:
        near = [f for f in flagged if glitch_s - 0.01 <= f["t_s"] <= glitch_s + 0.2]
        assert near and all("distance 400 cm" in f["reasons"] for f in near), flagged


def test_rolling_anomaly_flags_a_spike_and_adopts_a_step() -> None:
    detector = load("camera_sensor_anomaly.py").RollingAnomaly(persist=3)
    flags = [detector.check(v) for v in [100.0] * 12 + [400.0] + [100.0] * 3 + [20.0] * 6]
    assert flags[12] is True and not any(flags[13:16])  # the spike, then back to normal
    assert flags[16:19] == [True, True, True] and not any(flags[19:])  # the step, flagged until adopted


def test_bring_your_own_tflite_wraps_and_classifies(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    answers = load("bring_your_own_tflite.py").main(["--out", str(tmp_path / "colour.tflite")])
    assert answers == {"red": "red", "green": "green", "blue": "blue"}


def test_the_wrap_spec_file_gives_the_same_bundle_contract(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    from edge_sdk.bundle import read_bundle
    from edge_sdk.bundle.wrap import wrap_from_spec_file

    models = EXAMPLES / "models"
    manifest = wrap_from_spec_file(models / "colour_classifier.tflite", tmp_path / "c.tflite",
                                   models / "colour_classifier.wrap.yaml")
    assert [i.name for i in manifest.inputs] == ["pixels"]
    assert read_bundle(tmp_path / "c.tflite").manifest.outputs[0].labels == ("red", "green", "blue")


@pytest.mark.host
@pytest.mark.slow
def test_smart_camera_trains_converts_bundles_and_runs(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    outcome = load("smart_camera_own_data.py").main(["--out", str(tmp_path), "--samples", "200", "--epochs", "2"])
    assert Path(outcome["bundle"]).is_file()
    assert sorted(outcome["labels"]) == ["ok", "scratched"]
    assert outcome["checked"] == 6  # accuracy after two epochs is not the point; the whole path is
