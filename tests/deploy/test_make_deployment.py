"""make_deployment: what goes on the Pi, and the errors for bad input."""

from __future__ import annotations

import argparse
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_sdk.config import load_config
from edge_sdk.deploy import DeployOptions, make_deployment, tarball_path
from edge_sdk.deploy.cli import register
from edge_sdk.errors import BundleError, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_deployment_holds_bundle_config_unit_and_installer(
    tmp_path: Path, bundle_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = make_deployment(bundle_path, config_path, tmp_path / "out")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "config", "config/device.yaml", "config/env.example", "constraints.txt", "deployment.json",
        "edge-sdk.service", "install.sh", "models", "models/tiny.tflite", "requirements.txt", "wheels",
        "wheels/edge_fusion_sdk-0.1.0-py3-none-any.whl",
    ]
    assert (out / "install.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "models/tiny.tflite").read_bytes() == bundle_path.read_bytes()

    # The device config loads as `edge-sdk run` will load it on the Pi, with the secret from the env file.
    monkeypatch.setenv("MQTT_PASSWORD", "from-the-env-file")
    config = load_config(out / "config/device.yaml")
    assert config.device == "pi-kitchen"
    assert config.model.path == "/opt/edge-sdk/models/tiny.tflite"
    assert config.camera.source == "picamera2://0"
    assert config.mqtt is not None and config.mqtt.password == "from-the-env-file"
    assert config.mqtt.outbox.path == "/var/lib/edge-sdk/outbox.sqlite3"
    assert "${MQTT_PASSWORD}" in (out / "config/device.yaml").read_text()  # never the value

    # a template: nothing set, so an env file made from it sets no empty secret
    assert (out / "config/env.example").read_text().splitlines()[-2:] == ["# MQTT_PASSWORD: required",
                                                                           "#MQTT_PASSWORD="]
    record = json.loads((out / "deployment.json").read_text())
    assert record["model"]["name"] == "tiny" and record["model"]["version"] == "7"
    assert record["env"] == ["MQTT_PASSWORD"] and record["extras"] == ["device"]
    assert record["secrets"] == ["MQTT_PASSWORD"]  # no default: the env file must set it
    assert record["wheel"]["file"] == "edge_fusion_sdk-0.1.0-py3-none-any.whl"
    assert record["wheel"]["built_from"] == str(ROOT)
    requirements = [r for r in (out / "requirements.txt").read_text().splitlines() if not r.startswith("#")]
    # the SDK is the shipped wheel; only third-party packages are named for the index
    assert requirements[0] == "./wheels/edge_fusion_sdk-0.1.0-py3-none-any.whl"
    assert "pyyaml>=6.0" in requirements and any(r.startswith("paho-mqtt") for r in requirements)
    assert not any(r.startswith(("ai-edge-litert", "tflite-runtime", "edge-sdk", "edge-fusion-sdk"))
                   for r in requirements)


def test_tarball_unpacks_to_the_same_directory_owned_by_root(tmp_path: Path, bundle_path: Path,
                                                            config_path: Path) -> None:
    out = make_deployment(bundle_path, config_path, tmp_path / "pi-kitchen", DeployOptions(tar=True))
    archive = tarball_path(out)
    assert archive == tmp_path / "pi-kitchen.tar.gz"
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["pi-kitchen/install.sh"].mode == 0o755
    assert {(m.uid, m.uname) for m in members.values()} == {(0, "root")}
    assert set(members) == {"pi-kitchen"} | {f"pi-kitchen/{p.relative_to(out)}" for p in out.rglob("*")}


def test_config_without_mqtt_brings_the_embedded_broker(tmp_path: Path, bundle_path: Path) -> None:
    out = make_deployment(bundle_path, {"device": "bench", "camera": {"source": "camera://0"}}, tmp_path / "out")
    assert any(line.startswith("amqtt") for line in (out / "requirements.txt").read_text().splitlines())
    assert json.loads((out / "deployment.json").read_text())["extras"] == ["broker", "device"]


def test_rebuilding_replaces_an_earlier_deployment(tmp_path: Path, bundle_path: Path, config_path: Path) -> None:
    out = make_deployment(bundle_path, config_path, tmp_path / "out")
    (out / "stale.txt").write_text("from an old build")
    make_deployment(bundle_path, config_path, out, DeployOptions(backend="tflite-runtime"))
    assert not (out / "stale.txt").exists()
    assert "BACKEND=tflite-runtime" in (out / "install.sh").read_text()


def test_a_directory_that_is_not_a_deployment_is_never_replaced(tmp_path: Path, bundle_path: Path,
                                                                config_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("...")
    with pytest.raises(ConfigError, match=r"output directory .*home is not empty and holds no earlier deployment"):
        make_deployment(bundle_path, config_path, precious)
    assert (precious / "thesis.tex").exists()


def test_missing_bundle_names_the_file(tmp_path: Path, config_path: Path) -> None:
    with pytest.raises(BundleError, match=r"model bundle not found: .*nothing\.tflite"):
        make_deployment(tmp_path / "nothing.tflite", config_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_model_says_what_was_expected(tmp_path: Path, config_path: Path) -> None:
    fake = tmp_path / "model.tflite"
    fake.write_bytes(b"PK\x03\x04 not a flatbuffer")
    with pytest.raises(BundleError, match=r"not a TFLite flatbuffer: .*zip archive"):
        make_deployment(fake, config_path, tmp_path / "out")


def test_invalid_config_names_file_line_and_valid_keys(tmp_path: Path, bundle_path: Path) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("device: pi\ncamera:\n  sorce: picamera2://0\n")
    with pytest.raises(ConfigError, match=r"device\.yaml:3: camera\.sorce: unknown key\. Valid keys for camera: "):
        make_deployment(bundle_path, config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_config_says_what_was_expected(tmp_path: Path, bundle_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"device config not found: .*nope\.yaml\. Expected a YAML or JSON file"):
        make_deployment(bundle_path, tmp_path / "nope.yaml", tmp_path / "out")


def test_wheel_must_be_an_edge_sdk_wheel(tmp_path: Path, bundle_path: Path, config_path: Path) -> None:
    other = tmp_path / "numpy-2.0-py3-none-any.whl"
    other.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"deploy.wheel: expected an edge_fusion_sdk-<version>-....whl file. Got: numpy"):
        make_deployment(bundle_path, config_path, tmp_path / "out", DeployOptions(wheel=str(other)))


def test_wheel_must_hold_the_distribution_metadata(tmp_path: Path, bundle_path: Path, config_path: Path,
                                                   fake_wheel: Callable[..., Path]) -> None:
    junk = tmp_path / "edge_fusion_sdk-0.1.0-py3-none-any.whl"
    junk.write_bytes(b"wheel")
    with pytest.raises(ConfigError, match=r"deploy.wheel: expected a wheel \(a zip archive\). Got: edge_fusion_sdk-0"):
        make_deployment(bundle_path, config_path, tmp_path / "out", DeployOptions(wheel=str(junk)))
    renamed = fake_wheel(tmp_path / "other", name="edge-sdk").rename(tmp_path / junk.name)
    with pytest.raises(ConfigError, match=r"deploy.wheel: expected a wheel of edge-fusion-sdk. Got: one of edge-sdk"):
        make_deployment(bundle_path, config_path, tmp_path / "out", DeployOptions(wheel=str(renamed)))


def test_shipped_wheel_and_extra_files_are_installed_from_the_deployment(
        tmp_path: Path, bundle_path: Path, config_path: Path, fake_wheel: Callable[..., Path]) -> None:
    wheel = fake_wheel(tmp_path / "dist")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    out = make_deployment(bundle_path, config_path, tmp_path / "out",
                          DeployOptions(wheel=str(wheel), extra_files=(str(ca),)))
    assert (out / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert (out / "requirements.txt").read_text().splitlines()[2] == f"./wheels/{wheel.name}"
    assert json.loads((out / "deployment.json").read_text())["wheel"]["built_from"] is None
    assert (out / "config/ca.pem").exists()


def test_deploy_command_builds_and_prints_where(tmp_path: Path, bundle_path: Path, config_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="edge-sdk")
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["deploy", "--model", str(bundle_path), "--config", str(config_path), "--out", str(out),
                              "--tar", "--tflite-runtime", "--user", "robot", "--watchdog-s", "12"])
    assert args.func(args) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines() == [
        (f"wrote {out}/ (config, constraints.txt, deployment.json, edge-sdk.service, install.sh, models, "
        "requirements.txt, wheels)"),
        f"wrote {tmp_path / 'out.tar.gz'}",
    ]
    assert "sudo ./install.sh" in printed.err
    assert "edge-sdk deploy: warning: MQTT_PASSWORD is not set here (checked with a stand-in value)" in printed.err
    unit = (out / "edge-sdk.service").read_text()
    assert "User=robot" in unit and "WatchdogSec=12" in unit
    assert "BACKEND=tflite-runtime" in (out / "install.sh").read_text()
