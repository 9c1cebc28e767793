"""install.sh's venv and service logic, run in a fake root with a stand-in for the system.

``--root`` records the system commands; ``INSTALL_SH_SYSTEM_STUB`` also hands each one to the stub
below, which builds a fake venv for ``python3 -m venv`` (pyvenv.cfg, bin/python, bin/edge-sdk) and
fails the command that contains ``FAIL_STEP``. So the script's own decisions run as on a Pi: which
venv it reuses or builds, when it switches the ``venv`` symlink, and when it starts the service.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edge_sdk.deploy import DeployOptions, make_deployment
from edge_sdk.deploy.install_script import RECORD_NAME

STUB = r"""#!/usr/bin/env bash
set -euo pipefail
if [[ -n ${FAIL_STEP:-} && "$*" == *"$FAIL_STEP"* ]]; then
  echo "stub: failing $*" >&2
  exit 1
fi
if [[ $1 == python3 && $2 == -m && $3 == venv ]]; then
  dir=${!#}
  rm -rf -- "$dir"
  mkdir -p -- "$dir/bin"
  version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  printf 'home = /usr/bin\ninclude-system-site-packages = true\nversion = %s.0\n' "$version" >"$dir/pyvenv.cfg"
  printf '#!/bin/sh\nexit 0\n' >"$dir/bin/python"
  chmod +x "$dir/bin/python"
  cp -- "$dir/bin/python" "$dir/bin/edge-sdk"
fi
"""

PY = "py" + subprocess.run(["python3", "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
                           check=True, capture_output=True, text=True).stdout.strip()
LITERT, TFLRT = f"ai-edge-litert-{PY}", f"tflite-runtime-{PY}"


@pytest.fixture
def deployment(tmp_path: Path, bundle_path: Path, config_path: Path) -> Path:
    return make_deployment(bundle_path, config_path, tmp_path / "out", DeployOptions())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "pi"


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    path = tmp_path / "system-stub"
    path.write_text(STUB)
    path.chmod(0o755)
    return path


class Pi:
    """Runs the deployment's install.sh against the fake root, as often as a test needs."""

    def __init__(self, deployment: Path, root: Path, stub: Path) -> None:
        self.deployment, self.root, self.stub = deployment, root, stub
        self.path = os.environ["PATH"]

    def install(self, *args: str, fail: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "INSTALL_SH_SYSTEM_STUB": str(self.stub), "FAIL_STEP": fail, "PATH": self.path}
        return subprocess.run(["bash", str(self.deployment / "install.sh"), "--root", str(self.root), *args],
                              check=False, capture_output=True, text=True, timeout=120, env=env)

    @property
    def commands(self) -> list[str]:
        return (self.root / RECORD_NAME).read_text().splitlines()

    @property
    def link(self) -> Path:
        return self.root / "opt/edge-sdk/venv"

    def venv(self, name: str) -> Path:
        return self.root / "opt/edge-sdk/venvs" / name

    def set_env(self, text: str) -> None:
        (self.root / "etc/edge-sdk/env").write_text(text)


@pytest.fixture
def pi(deployment: Path, root: Path, stub: Path) -> Pi:
    return Pi(deployment, root, stub)


def venv_builds(commands: list[str]) -> list[str]:
    return [c.rsplit("/", 1)[-1] for c in commands if c.startswith("python3 -m venv")]


def test_a_rerun_reuses_the_venv_and_only_reinstalls_the_wheel(pi: Pi) -> None:
    first = pi.install()
    assert first.returncode == 0, first.stderr
    assert venv_builds(pi.commands) == [LITERT]
    assert pi.link.readlink() == Path(f"venvs/{LITERT}")
    pi.set_env("MQTT_PASSWORD=s3cret\n")

    again = pi.install()
    assert again.returncode == 0, again.stderr
    assert venv_builds(pi.commands) == []
    assert f"reusing /opt/edge-sdk/venvs/{LITERT} (python {PY[2:]})" in again.stderr
    venv = pi.venv(LITERT)
    assert [c for c in pi.commands if c.startswith(str(venv))] == [
        (f"{venv}/bin/python -m pip install --upgrade --upgrade-strategy only-if-needed -c constraints.txt "
         "-r requirements.txt ai-edge-litert\\>=2.0"),
        f"{venv}/bin/python -m pip install --force-reinstall --no-deps ./wheels/edge_fusion_sdk-0.1.0-py3-none-any.whl",
        f"{venv}/bin/edge-sdk info --verify {pi.root}/opt/edge-sdk/models/tiny.tflite",
    ]
    assert pi.commands[-1] == "systemctl restart edge-sdk.service"


def test_a_new_python_gets_a_new_venv_and_keeps_the_old_one(pi: Pi, tmp_path: Path) -> None:
    assert pi.install().returncode == 0
    bin_dir = tmp_path / "newer-python"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text("#!/bin/sh\necho 3.99\n")
    (bin_dir / "python3").chmod(0o755)
    pi.path = f"{bin_dir}:{pi.path}"
    result = pi.install()
    assert result.returncode == 0, result.stderr
    assert venv_builds(pi.commands) == ["ai-edge-litert-py3.99"]
    assert pi.link.readlink() == Path("venvs/ai-edge-litert-py3.99")
    assert (pi.venv(LITERT) / "pyvenv.cfg").is_file()


def test_switching_interpreter_verifies_in_a_new_venv_and_keeps_the_old_one_on_failure(pi: Pi) -> None:
    assert pi.install().returncode == 0
    pi.set_env("MQTT_PASSWORD=s3cret\n")
    before = (pi.venv(LITERT) / "pyvenv.cfg").read_text()

    failed = pi.install("--tflite-runtime", fail=f"{TFLRT}/bin/edge-sdk info --verify")
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f"install.sh: error: the bundle tiny.tflite failed its check with tflite-runtime in "
        f"/opt/edge-sdk/venvs/{TFLRT}. The service still uses {LITERT}, unchanged, and was not restarted")
    assert pi.link.readlink() == Path(f"venvs/{LITERT}")  # the service's venv as it was
    assert (pi.venv(LITERT) / "pyvenv.cfg").read_text() == before
    assert not any(str(pi.venv(LITERT)) in c for c in pi.commands), "nothing may touch the venv in use"
    assert not any(c.startswith("systemctl") for c in pi.commands)


def test_a_failed_pip_install_in_the_new_venv_leaves_the_service_alone(pi: Pi) -> None:
    assert pi.install().returncode == 0
    failed = pi.install("--tflite-runtime", fail="tflite-runtime==2.14")
    assert failed.returncode == 1
    assert (f"pip could not install requirements.txt and tflite-runtime==2.14.* into /opt/edge-sdk/venvs/{TFLRT}. "
            f"The service still uses {LITERT}, unchanged") in failed.stderr
    assert pi.link.readlink() == Path(f"venvs/{LITERT}")


def test_switching_interpreter_swaps_after_the_check_and_switching_back_reuses_the_old_venv(pi: Pi) -> None:
    assert pi.install().returncode == 0
    pi.set_env("MQTT_PASSWORD=s3cret\n")

    switched = pi.install("--tflite-runtime")
    assert switched.returncode == 0, switched.stderr
    assert venv_builds(pi.commands) == [TFLRT]
    assert pi.link.readlink() == Path(f"venvs/{TFLRT}")
    assert f"the previous one ({LITERT}) is kept" in switched.stderr
    assert (pi.venv(LITERT) / "bin/edge-sdk").is_file()
    verify = pi.commands.index(f"{pi.venv(TFLRT)}/bin/edge-sdk info --verify {pi.root}/opt/edge-sdk/models/tiny.tflite")
    assert pi.commands[verify + 1:] == ["systemctl daemon-reload", "systemctl enable edge-sdk.service",
                                        "systemctl restart edge-sdk.service"]

    back = pi.install("--ai-edge-litert")
    assert back.returncode == 0, back.stderr
    assert venv_builds(pi.commands) == []
    assert pi.link.readlink() == Path(f"venvs/{LITERT}")


def test_the_venv_directory_of_an_earlier_install_is_moved_aside(pi: Pi) -> None:
    (pi.link / "bin").mkdir(parents=True)
    (pi.link / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
    result = pi.install()
    assert result.returncode == 0, result.stderr
    assert pi.link.is_symlink() and pi.link.readlink() == Path(f"venvs/{LITERT}")
    assert (pi.root / "opt/edge-sdk/venv.old/pyvenv.cfg").is_file()


@pytest.mark.parametrize("env_text", ["", "MQTT_PASSWORD=\n", "#MQTT_PASSWORD=s3cret\n", 'MQTT_PASSWORD=""\n',
                                      "MQTT_USER=pi\n"])
def test_the_service_is_not_started_until_the_env_file_sets_the_secrets(pi: Pi, env_text: str) -> None:
    pi.root.joinpath("etc/edge-sdk").mkdir(parents=True)
    pi.set_env(env_text)
    result = pi.install()
    assert result.returncode == 0, result.stderr
    assert pi.commands[-1] == "systemctl enable edge-sdk.service"
    assert ("enabled but not started: /etc/edge-sdk/env does not set MQTT_PASSWORD, which the device config needs"
            in result.stderr)
    assert "sudo nano /etc/edge-sdk/env   (one line each: MQTT_PASSWORD=<value>, no '#' in front)" in result.stderr
    assert "then start it: sudo systemctl restart edge-sdk" in result.stderr
    assert (pi.root / "etc/edge-sdk/env").read_text() == env_text  # never overwritten


@pytest.mark.parametrize("env_text", ["MQTT_PASSWORD=s3cret\n", "  MQTT_PASSWORD='two words'\n"])
def test_the_service_starts_once_the_secrets_are_set(pi: Pi, env_text: str) -> None:
    pi.root.joinpath("etc/edge-sdk").mkdir(parents=True)
    pi.set_env(env_text)
    result = pi.install()
    assert result.returncode == 0, result.stderr
    assert pi.commands[-1] == "systemctl restart edge-sdk.service"
    assert "not started" not in result.stderr


def test_a_config_without_secrets_starts_right_away(tmp_path: Path, bundle_path: Path, stub: Path) -> None:
    config = {"device": "bench", "camera": {"source": "camera://0"},
              "mqtt": {"host": "broker.lan", "password": "${MQTT_PASSWORD:-}"}}
    deployment = make_deployment(bundle_path, config, tmp_path / "out")
    pi = Pi(deployment, tmp_path / "pi", stub)
    result = pi.install()
    assert result.returncode == 0, result.stderr
    assert pi.commands[-1] == "systemctl restart edge-sdk.service"
