"""The one CLI: every command listed, device commands without TensorFlow, clean exit codes."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.cli import main
from edge_sdk.runtime import default_bundle_path

COMMANDS = ("run", "validate-config", "cameras", "info", "wrap", "bridge", "seek-data", "seek-clip", "train", "convert",
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


# The seek bundle shipped until issue 16's retraining: schema 1 on disk, as bundles built before schema 2 are.
SCHEMA1_BUNDLE = Path(__file__).resolve().parent / "fixtures" / "seek_int8_schema1.tflite"


@pytest.mark.parametrize("bundle", [default_bundle_path(), SCHEMA1_BUNDLE], ids=["shipped", "schema1"])
def test_info_json_is_the_manifest(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(bundle)]) == 0
    printed = json.loads(capsys.readouterr().out)  # schema 1 on disk is read as 2
    assert printed["schema"] == "edge_sdk.bundle/2" and [s["key"] for s in printed["signatures"]] == [None]


def test_the_schema1_fixture_is_schema_1_on_disk() -> None:
    import zipfile

    with zipfile.ZipFile(SCHEMA1_BUNDLE) as archive:
        assert json.loads(archive.read("manifest.json"))["schema"] == "edge_sdk.bundle/1"
    assert main(["info", "--verify", str(SCHEMA1_BUNDLE)]) == 0  # and still runs, goldens and all


def test_info_verify_runs_the_golden_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--verify", str(default_bundle_path())]) == 0
    assert "golden vectors pass" in capsys.readouterr().out


def test_bad_bundle_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert main(["info", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("edge-sdk info: ") and "not a TFLite flatbuffer: the first bytes are text" in err


def test_validate_config_reports_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera:\n  source: camera://0\n  lop: true\n")
    assert main(["validate-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:4: camera.lop: unknown key. Valid keys for camera: capture, decode_threads, fps, height, loop" in err


def test_validate_config_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: 'seek://?seconds=1'}\ntext: {prompt: go}\nsensor: {source: stdin}\n"
                      "mqtt: {host: broker.lan, username: pi, password: '${PW:-x}'}\n")
    assert main(["validate-config", "--config", str(config)]) == 0
    assert "ok" in capsys.readouterr().out


def test_validate_config_takes_config_as_run_and_deploy_do(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: 'seek://'}\ntext: {prompt: go}\nsensor: {source: stdin}\n")
    assert main(["validate-config", "-c", str(config)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["validate-config", str(config)]) == 0  # the old positional form still works, with a warning
    assert "a positional FILE is deprecated; use --config FILE" in capsys.readouterr().err
    assert main(["validate-config", "--config", str(config), str(config)]) == 2
    assert "Expected one: --config FILE" in capsys.readouterr().err
    assert main(["validate-config"]) == 2
    assert "expected --config FILE" in capsys.readouterr().err


def test_verbose_works_before_and_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    from edge_sdk.cli import build_parser

    args = build_parser().parse_args(["-v", "run", "-v", "--source", "camera://0"])
    assert (args.verbose, args.command_verbose) == (1, 1)
    assert build_parser().parse_args(["validate-config", "-vv", "-c", "device.yaml"]).command_verbose == 2
    assert main(["info", str(default_bundle_path()), "-vv"]) == 0
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():  # the registered commands too; bridge parses its own options
        verbose = [a for a in command._actions if "-v" in a.option_strings]
        assert name == "bridge" or [a.dest for a in verbose] == ["command_verbose"], name


def _options_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                missing += _options_without_help(command, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_of_every_command_has_help() -> None:
    from edge_sdk.cli import build_parser

    assert _options_without_help(build_parser(), "edge-sdk") == []


def _validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml: str) -> list[str]:
    """validate-config on ``yaml`` (a seek model's text and sensor given): exit 2, one stderr line per problem."""
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ntext: {prompt: go}\nsensor: {source: stdin}\n" + yaml)
    assert main(["validate-config", "--config", str(config)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith(f"edge-sdk validate-config: {config}:") for line in lines), lines
    return [line.split(": ", 2)[2] for line in lines]  # after "edge-sdk validate-config: FILE[:LINE]: "


def test_validate_config_rejects_models_run_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(default_bundle_path().read_bytes()[:50_000])
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a model\n" * 5)
    for model, message in ((truncated, "truncated: 50000 bytes, but the TFLite flatbuffer refers to byte"), (text, "not a TFLite flatbuffer: the first bytes are text"),
                           (tmp_path / "none.tflite", "model bundle not found")):
        (problem,) = _validate(tmp_path, capsys, f"model: {{path: {model}}}\ncamera: {{source: 'seek://'}}\n")
        assert problem.startswith("model.path: ") and message in problem, problem


def test_validate_config_wants_a_source_for_every_model_input(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: 'seek://'}\n")
    assert main(["validate-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "sensor.source: the model 'seek' takes a sensor input" in err and "text.source: the model" in err


def test_validate_config_checks_source_paths_and_devices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (str(tmp_path / "clip.mp4"), r"camera.source: video file not found: .*clip\.mp4 \(nothing there\)"),
        (f"file://{tmp_path}", r"video file not found: .* \(a folder: use images://\)"),
        (f"images://{tmp_path / 'frames'}", r"camera.source: image folder not found: .*frames"),
        ("/dev/video97", (r"camera.source: no such device: /dev/video97. Expected a V4L2 capture device; "
                         r"`edge-sdk cameras` lists the cameras")),
        ("camera://97", r"no such device: /dev/video97"),
        ("/dev/null", r"camera.source: /dev/null: not a V4L2 device \(VIDIOC_QUERYCAP: Inappropriate ioctl"),
    ]
    if Path("/dev/shm").is_dir():
        cases.append(("/dev/shm", r"camera.source: /dev/shm is not a device \(a folder\)"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 500)
    cases.append((str(bad), r"camera.source: cannot decode .*bad\.mp4 as video"))
    for source, message in cases:
        (problem,) = _validate(tmp_path, capsys, f"camera: {{source: '{source}'}}\n")
        assert re.search(message, problem), (source, problem)


def test_validate_config_checks_the_serial_port_without_opening_it(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "ttyACM0"
    plain.write_text("")
    for url, message in (("/dev/ttyACM97", ("bridge.url: no such serial port: /dev/ttyACM97. Expected the "
                                           "microcontroller's port (`edge-sdk bridge ports` lists them)")),
                         (str(plain), (f"bridge.url: {plain} is not a serial device (a regular file). Expected a "
                                      "port such as /dev/ttyACM0"))):
        (problem,) = _validate(tmp_path, capsys, f"camera: {{source: 'seek://'}}\nbridge: {{url: {url}}}\n")
        assert problem == message
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: 'seek://'}\ntext: {prompt: go}\nsensor: {source: bridge}\n"
                      "bridge: {url: 'loop://'}\n")
    assert main(["validate-config", "--config", str(config)]) == 0


def test_validate_config_lists_every_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text(f"device: pi\nmodel: {{path: {tmp_path / 'none.tflite'}}}\ncamera:\n  source: /dev/video97\n"
                      f"text: {{source: file, path: {tmp_path / 'commands.txt'}}}\n")
    assert main(["validate-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in err] == [f"{config}:2", f"{config}:4", f"{config}:5"]


def test_validate_config_checks_the_gstreamer_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2 = pytest.importorskip("cv2")
    if cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
        pytest.skip("this OpenCV has GStreamer")
    (problem,) = _validate(tmp_path, capsys, "camera: {source: 'gst://videotestsrc ! videoconvert ! appsink'}\n")
    assert problem.startswith("camera.source: this OpenCV has no GStreamer backend")
    assert f"{sys.executable} -m pip uninstall --yes opencv-python-headless" in problem


def test_run_with_a_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--source", "seek://?seconds=1", "--model", str(tmp_path / "none.tflite")]) == 2
    assert "model.path: bundle not found" in capsys.readouterr().err


def test_run_without_a_camera_says_what_to_add_instead_of_running_the_demo_world(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "no camera: pass --config FILE with a camera section, or --source (camera://0" in capsys.readouterr().err
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ntext: {source: stdin}\n")
    for command in (["run", "--config", str(config)], ["validate-config", "--config", str(config)]):
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
    args = build_parser().parse_args(["run", "--source", "camera://0", "--prompt", "find it", "--sensor", "stdin"])
    built = _run_config(args)
    assert (built.text.source, built.text.prompt, built.sensor.source) == ("fixed", "find it", "stdin")


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


SECRET_CONFIG = ("device: pi\ncamera: {source: 'seek://?seconds=1'}\ntext: {prompt: find the red circle}\n"
                 "sensor: {source: stdin}\n"
                 "mqtt: {host: broker.lan, port: '${EDGE_TEST_PORT}', username: pi, password: '${EDGE_TEST_PW}'}\n")


def test_validate_config_is_strict_about_unset_secrets_and_names_the_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_TEST_PW", raising=False)
    monkeypatch.setenv("EDGE_TEST_PORT", "1883")
    config = tmp_path / "device.yaml"
    config.write_text(SECRET_CONFIG)
    assert main(["validate-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"edge-sdk validate-config: {config}:5: mqtt.password: environment variable EDGE_TEST_PW is not "
                   "set (referenced as ${EDGE_TEST_PW}). Set it, or pass --allow-unset-env when the secrets are set "
                   "on the device only")


def test_validate_config_allow_unset_env_warns_like_deploy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_TEST_PW", raising=False)
    monkeypatch.delenv("EDGE_TEST_PORT", raising=False)  # a number stands in for a numeric field
    config = tmp_path / "device.yaml"
    config.write_text(SECRET_CONFIG)
    assert main(["validate-config", "--allow-unset-env", "--config", str(config)]) == 0
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


def test_validate_config_no_devices_checks_a_config_meant_for_another_device(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera: {source: /dev/video93}\ntext: {prompt: go}\nsensor: {source: bridge}\n"
                      "bridge: {url: /dev/ttyACM93}\n")
    assert main(["validate-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "camera.source" in err and "bridge.url" in err
    assert main(["validate-config", "--no-devices", "--config", str(config)]) == 0


def test_the_shipped_model_has_a_name_that_works_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from edge_sdk.bundle import read_bundle

    monkeypatch.chdir(tmp_path)
    assert read_bundle("seek").manifest.model.name == "seek"
    assert main(["info", "seek"]) == 0 and "model       seek" in capsys.readouterr().out
    config = tmp_path / "device.yaml"
    config.write_text("model: {path: seek}\ncamera: {source: 'seek://?seconds=1'}\ntext: {prompt: go}\n"
                      "sensor: {source: stdin}\n")
    assert main(["validate-config", "--config", str(config)]) == 0


def test_the_summary_accounts_for_every_frame() -> None:
    from edge_sdk.cli import _summary_line

    line = _summary_line({"results": 700, "published": 700, "fps": 10.0, "stages": {},
                          "drops": {"frames": 3, "incomplete_inputs": 2, "paced": 90},
                          "capture": {"frames_read": 705, "frames_skipped": 90}})
    assert ("frames 795 = 700 processed + 3 dropped (inference busy) + 90 skipped by realtime pacing + "
            "2 with incomplete inputs") in line


def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    """``edge-sdk caption clip.mp4 --json | head -1``: the pipe closes under the writer; no traceback, exit 0."""
    process = subprocess.Popen([sys.executable, "-c", "from edge_sdk.cli import console_main; console_main()",
                                "info", "seek", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes its first byte: every write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
