"""docs/deploy-pi.md as written: its config and its commands, run from a copy of the repository root."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from edge_sdk.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy-pi.md"


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def doc_command(prefix: str) -> list[str]:
    for block in doc_blocks("sh"):
        for line in block.splitlines():
            if line.startswith(prefix):
                return shlex.split(line.split("#")[0])
    raise AssertionError(f"docs/deploy-pi.md has no command starting with {prefix!r}")


@pytest.fixture
def repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the repository root: the package, and device.yaml saved from the doc's config."""
    monkeypatch.delenv("MQTT_PASSWORD", raising=False)  # the secret lives on the Pi
    (tmp_path / "edge_sdk").symlink_to(ROOT / "edge_sdk")
    (tmp_path / "device.yaml").write_text(doc_blocks("yaml")[0])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_doc_config_passes_validate_config_as_written(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = doc_command("edge-sdk validate-config")
    assert main(command[1:]) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    assert printed.out.startswith("device.yaml: ok (device 'pi-kitchen'")
    assert "MQTT_PASSWORD is not set here" in printed.err


def test_the_doc_deploy_command_works_as_written(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = doc_command("edge-sdk deploy")
    assert main(command[1:]) == 0, capsys.readouterr().err
    out = repo_root / "pi-kitchen"
    assert (out / "models" / "seek_int8.tflite").is_file()
    assert (repo_root / "pi-kitchen.tar.gz").is_file()
    assert "MQTT_PASSWORD is not set here" in capsys.readouterr().err
