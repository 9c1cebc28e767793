"""The one CLI: every command listed, device commands without TensorFlow, clean exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.cli import main
from edge_sdk.runtime import default_bundle_path

COMMANDS = ("run", "validate-config", "info", "wrap", "bridge", "seek-data", "seek-clip", "train", "convert",
            "build-seek-bundle")


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command}" in out


def test_info_prints_the_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(default_bundle_path())]) == 0
    out = capsys.readouterr().out
    assert "int8_io_uint8" in out and "left, center, right, absent, blocked" in out


def test_info_json_is_the_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(default_bundle_path())]) == 0
    printed = json.loads(capsys.readouterr().out)  # the shipped bundle is schema 1 on disk, read as 2
    assert printed["schema"] == "edge_sdk.bundle/2" and [s["key"] for s in printed["signatures"]] == [None]


def test_info_verify_runs_the_golden_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--verify", str(default_bundle_path())]) == 0
    assert "golden vectors pass" in capsys.readouterr().out


def test_bad_bundle_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert main(["info", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("edge-sdk info: ") and "not a TFLite model" in err


def test_validate_config_reports_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera:\n  source: camera://0\n  lop: true\n")
    assert main(["validate-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:4: camera.lop: unknown key. Valid keys for camera: decode_threads, fps, height, loop" in err


def test_validate_config_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: 'seek://?seconds=1'}\nmqtt: {host: broker.lan, username: pi, password: '${PW:-x}'}\n")
    assert main(["validate-config", str(config)]) == 0
    assert "ok" in capsys.readouterr().out


def test_run_with_a_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--source", "seek://?seconds=1", "--model", str(tmp_path / "none.tflite")]) == 2
    assert "model.path: bundle not found" in capsys.readouterr().err


def test_run_without_a_camera_says_what_to_add_instead_of_running_the_demo_world(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "no camera: pass --config FILE with a camera section, or --source (camera://0" in capsys.readouterr().err
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ntext: {source: stdin}\n")
    for command in (["run", "--config", str(config)], ["validate-config", str(config)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{config}: camera: missing. Expected where frames come from" in err
        assert "Add, for example: camera: {source: camera://0}" in err


def test_a_command_line_source_completes_a_config_without_a_camera(tmp_path: Path) -> None:
    from edge_sdk.cli import _run_config, build_parser

    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: camera://0, loop: true}\n")
    args = build_parser().parse_args(["run", "--config", str(config), "--source", "file://clip.mp4", "--max-frames", "3"])
    built = _run_config(args)
    assert (built.camera.source, built.camera.loop, built.pipeline.max_frames) == ("file://clip.mp4", True, 3)
    args = build_parser().parse_args(["run", "--source", "images://frames", "--max-frames", "0"])
    assert _run_config(args).camera.source == "images://frames"


def test_bridge_commands_are_reachable() -> None:
    done = subprocess.run([sys.executable, "-m", "edge_sdk.cli", "bridge", "--help"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0
    assert "simulate" in done.stdout


def test_device_commands_do_not_import_tensorflow() -> None:
    code = ("import sys; from edge_sdk.cli import main; main(['info', sys.argv[1]]);"
            "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(default_bundle_path())], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_wrap_makes_a_bundle_from_a_plain_tflite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_sdk.bundle import read_bundle

    shipped = read_bundle(default_bundle_path())
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(shipped.flatbuffer)
    (tmp_path / "labels.txt").write_text("\n".join(shipped.manifest.scores_output.labels) + "\n")
    text = shipped.manifest.input("text").preprocess
    (tmp_path / "vocab.txt").write_text("\n".join(text.vocabulary) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "model: {name: third-party, version: '7'}\n"
        "inputs:\n"
        "  - {name: image, role: image, preprocess: {width: 64, height: 64, color_order: RGB}}\n"
        "  - {name: text, role: text, preprocess: {vocabulary_file: vocab.txt, max_length: 8}}\n"
        "  - {name: sensor, role: sensor, preprocess: {channels: [{name: distance_cm, unit: cm, mean: 80, std: 60}]}}\n"
        "outputs:\n"
        "  - {labels_file: labels.txt}\n"
    )
    out = tmp_path / "wrapped.tflite"
    assert main(["wrap", str(plain), "--out", str(out), "--spec", str(spec)]) == 0
    wrapped = read_bundle(out)
    assert wrapped.manifest.model.name == "third-party"
    assert wrapped.manifest.scores_output.labels == shipped.manifest.scores_output.labels
    assert main(["info", str(out)]) == 0


def test_wrap_with_a_bad_role_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.tflite"
    from edge_sdk.bundle import read_bundle

    plain.write_bytes(read_bundle(default_bundle_path()).flatbuffer)
    spec = tmp_path / "spec.yaml"
    spec.write_text("inputs:\n  - {role: audio}\n")
    assert main(["wrap", str(plain), "--out", str(tmp_path / "x.tflite"), "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: inputs[0].role: expected one of 'image', 'text', 'sensor', 'tensor'. Got: 'audio'" in err


def test_version_prints_the_command_version_and_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    import edge_sdk

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"edge-sdk {edge_sdk.__version__} (edge-fusion-sdk)\n"


SECRET_CONFIG = ("device: pi\ncamera: {source: 'seek://?seconds=1'}\n"
                 "mqtt: {host: broker.lan, port: '${EDGE_TEST_PORT}', username: pi, password: '${EDGE_TEST_PW}'}\n")


def test_validate_config_is_strict_about_unset_secrets_and_names_the_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_TEST_PW", raising=False)
    monkeypatch.setenv("EDGE_TEST_PORT", "1883")
    config = tmp_path / "device.yaml"
    config.write_text(SECRET_CONFIG)
    assert main(["validate-config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"edge-sdk validate-config: {config}:3: mqtt.password: environment variable EDGE_TEST_PW is not "
                   "set (referenced as ${EDGE_TEST_PW}). Set it, or pass --allow-unset-env when the secrets are set "
                   "on the device only")


def test_validate_config_allow_unset_env_warns_like_deploy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_TEST_PW", raising=False)
    monkeypatch.delenv("EDGE_TEST_PORT", raising=False)  # a number stands in for a numeric field
    config = tmp_path / "device.yaml"
    config.write_text(SECRET_CONFIG)
    assert main(["validate-config", "--allow-unset-env", str(config)]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"{config}: ok (device 'pi'")
    assert printed.err.strip() == (
        "edge-sdk validate-config: warning: EDGE_TEST_PORT, EDGE_TEST_PW are not set here (checked with a stand-in "
        "value); set them where the config runs (a Pi installed by `edge-sdk deploy` reads /etc/edge-sdk/env)")

    # deploy accepts the same file and says the same about it
    bundle = Path(__file__).resolve().parents[1] / "edge_sdk/data/seek_int8.tflite"
    wheel = tmp_path / "edge_fusion_sdk-0.1.0-py3-none-any.whl"
    import zipfile

    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("edge_fusion_sdk-0.1.0.dist-info/METADATA", "Name: edge-fusion-sdk\nVersion: 0.1.0\n")
    assert main(["deploy", "--model", str(bundle), "--config", str(config), "--out", str(tmp_path / "out"),
                 "--wheel", str(wheel)]) == 0
    err = capsys.readouterr().err
    assert ("edge-sdk deploy: warning: EDGE_TEST_PORT, EDGE_TEST_PW are not set here (checked with a stand-in "
            "value); set them") in err
