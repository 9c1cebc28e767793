"""install.sh off the device: shellcheck, --root into a temporary tree, --dry-run, idempotence."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk.deploy import DeployOptions, make_deployment
from edge_sdk.deploy.install_script import RECORD_NAME

SHELLCHECK = shutil.which("shellcheck")


@pytest.fixture
def deployment(tmp_path: Path, bundle_path: Path, config_path: Path) -> Path:
    return make_deployment(bundle_path, config_path, tmp_path / "out", DeployOptions())


def run_install(deployment: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(deployment / "install.sh"), *args], check=False, capture_output=True,
                          text=True, timeout=120)


PY = f"py{sys.version_info.major}.{sys.version_info.minor}"  # what python3 reports, as install.sh asks it


def tree(root: Path) -> dict[str, str]:
    """relative path -> permission string (-> target for a symlink), for everything but the command record."""
    return {
        str(p.relative_to(root)): stat.filemode(p.lstat().st_mode) + (f" -> {p.readlink()}" if p.is_symlink() else "")
        for p in sorted(root.rglob("*")) if p.name != RECORD_NAME
    }


@pytest.mark.skipif(SHELLCHECK is None, reason="needs shellcheck (apt-get install shellcheck)")
def test_install_script_is_shellcheck_clean(deployment: Path) -> None:
    assert SHELLCHECK is not None
    result = subprocess.run([SHELLCHECK, "--shell=bash", str(deployment / "install.sh")],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_root_mode_installs_the_tree_and_records_system_commands(deployment: Path, tmp_path: Path) -> None:
    root = tmp_path / "pi"
    result = run_install(deployment, "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert tree(root) == {
        "etc": "drwxr-xr-x",
        "etc/edge-sdk": "drwxr-x---",
        "etc/edge-sdk/device.yaml": "-rw-r-----",
        "etc/edge-sdk/env": "-rw-r-----",
        "etc/systemd": "drwxr-xr-x",
        "etc/systemd/system": "drwxr-xr-x",
        "etc/systemd/system/edge-sdk.service": "-rw-r--r--",
        "opt": "drwxr-xr-x",
        "opt/edge-sdk": "drwxr-xr-x",
        "opt/edge-sdk/deployment.json": "-rw-r--r--",
        "opt/edge-sdk/models": "drwxr-xr-x",
        "opt/edge-sdk/models/tiny.tflite": "-rw-r--r--",
        "opt/edge-sdk/venv": f"lrwxrwxrwx -> venvs/ai-edge-litert-{PY}",
    }
    assert (root / "etc/edge-sdk/device.yaml").read_bytes() == (deployment / "config/device.yaml").read_bytes()
    assert (root / "opt/edge-sdk/models/tiny.tflite").read_bytes() == (deployment / "models/tiny.tflite").read_bytes()
    assert (root / "etc/edge-sdk/env").read_text().splitlines()[-1] == "#MQTT_PASSWORD="  # never an empty secret

    commands = (root / RECORD_NAME).read_text().splitlines()
    venv = f"{root}/opt/edge-sdk/venvs/ai-edge-litert-{PY}"
    assert commands == [
        "apt-get update",
        ("env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv python3-pip "
        "python3-picamera2"),
        "groupadd --system --force video",
        "groupadd --system --force dialout",
        "groupadd --system --force gpio",
        ("useradd --system --user-group --home-dir /var/lib/edge-sdk --no-create-home --shell /usr/sbin/nologin "
        "--comment edge_sdk\\ runtime edge-sdk"),
        f"chown root:edge-sdk {root}/etc/edge-sdk",
        f"chown root:edge-sdk {root}/etc/edge-sdk/device.yaml",
        f"chown root:edge-sdk {root}/etc/edge-sdk/env",
        f"python3 -m venv --clear --system-site-packages {venv}",
        (f"{venv}/bin/python -m pip install --upgrade --upgrade-strategy only-if-needed -c constraints.txt "
        "-r requirements.txt ai-edge-litert\\>=2.0"),
        f"{venv}/bin/python -m pip install --force-reinstall --no-deps ./wheels/edge_fusion_sdk-0.1.0-py3-none-any.whl",
        f"{venv}/bin/edge-sdk info --verify {root}/opt/edge-sdk/models/tiny.tflite",
        "systemctl daemon-reload",
        "systemctl enable edge-sdk.service",
    ]  # not started: the env file does not set MQTT_PASSWORD yet


def test_second_run_keeps_secrets_and_backs_up_a_changed_config(deployment: Path, tmp_path: Path) -> None:
    root = tmp_path / "pi"
    assert run_install(deployment, "--root", str(root)).returncode == 0
    first = tree(root)
    env_file = root / "etc/edge-sdk/env"
    env_file.write_text("MQTT_PASSWORD=s3cret\n")

    again = run_install(deployment, "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert tree(root) == first
    assert env_file.read_text() == "MQTT_PASSWORD=s3cret\n"
    assert "kept the existing /etc/edge-sdk/env" in again.stderr

    installed = root / "etc/edge-sdk/device.yaml"
    installed.write_text(installed.read_text() + "# edited on the device\n")
    third = run_install(deployment, "--root", str(root))
    assert third.returncode == 0, third.stderr
    assert (root / "etc/edge-sdk/device.yaml.bak").read_text().endswith("# edited on the device\n")
    assert installed.read_bytes() == (deployment / "config/device.yaml").read_bytes()


def test_dry_run_prints_every_command_and_changes_nothing(deployment: Path, tmp_path: Path) -> None:
    root = tmp_path / "untouched"
    result = run_install(deployment, "--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert not root.exists()
    lines = result.stdout.splitlines()
    assert all(line.startswith("+ ") for line in lines)
    assert "+ apt-get update" in lines
    assert f"+ install -m 0644 {deployment}/edge-sdk.service {root}/etc/systemd/system/edge-sdk.service" in lines
    assert f"+ python3 -m venv --clear --system-site-packages {root}/opt/edge-sdk/venvs/ai-edge-litert-{PY}" in lines
    assert f"+ ln -sfn -- venvs/ai-edge-litert-{PY} {root}/opt/edge-sdk/venv.new" in lines
    assert lines[-1] == "+ systemctl enable edge-sdk.service"  # no env file yet: no secret, no start
    assert "dry run: nothing was changed" in result.stderr


def test_dry_run_without_root_targets_the_real_paths(deployment: Path) -> None:
    result = run_install(deployment, "--dry-run", "--no-start")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"+ install -m 0640 {deployment}/config/device.yaml /etc/edge-sdk/device.yaml" in lines
    assert "+ systemctl enable edge-sdk.service" in lines
    assert not any("systemctl restart" in line for line in lines)


def test_tflite_runtime_option_installs_that_interpreter_in_its_own_venv(deployment: Path, tmp_path: Path) -> None:
    root = tmp_path / "pi"
    assert run_install(deployment, "--root", str(root), "--tflite-runtime").returncode == 0
    commands = (root / RECORD_NAME).read_text()
    assert f"venvs/tflite-runtime-{PY}/bin/python -m pip install" in commands
    assert "-r requirements.txt tflite-runtime==2.14.\\*" in commands
    assert "ai-edge-litert" not in commands
    assert (deployment / "constraints.txt").read_text().splitlines()[-1] == "numpy<2"


def test_unknown_option_is_refused_with_usage(deployment: Path) -> None:
    result = run_install(deployment, "--frobnicate")
    assert result.returncode == 1
    assert "install.sh: error: unknown option: --frobnicate" in result.stderr
    assert "Usage: sudo ./install.sh" in result.stderr


def test_incomplete_deployment_names_the_missing_file(deployment: Path, tmp_path: Path) -> None:
    (deployment / "constraints.txt").unlink()
    result = run_install(deployment, "--root", str(tmp_path / "pi"))
    assert result.returncode == 1
    assert f"incomplete deployment: expected {deployment}/constraints.txt. Got: no such file" in result.stderr
