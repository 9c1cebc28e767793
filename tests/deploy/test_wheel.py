"""The deployment ships a wheel of this package and the Pi installs that file, never a name from an index."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.cli import main
from edge_sdk.deploy import make_deployment
from edge_sdk.deploy import wheel as wheel_module
from edge_sdk.deploy.wheel import build_wheel, find_source_tree
from edge_sdk.errors import EdgeSDKError

ROOT = Path(__file__).resolve().parents[2]
WHEEL = "edge_fusion_sdk-0.1.0-py3-none-any.whl"


@pytest.mark.slow
def test_deploy_builds_the_wheel_of_this_source_tree_and_ships_it(
        tmp_path: Path, bundle_path: Path, config_path: Path, real_wheel_build: None) -> None:
    leftovers = [ROOT / "edge_fusion_sdk.egg-info", ROOT / "build"]
    before = {path: path.exists() for path in leftovers}
    out = make_deployment(bundle_path, config_path, tmp_path / "out")
    with zipfile.ZipFile(out / "wheels" / WHEEL) as archive:
        names = set(archive.namelist())
        metadata = archive.read("edge_fusion_sdk-0.1.0.dist-info/METADATA").decode()
        entry_points = archive.read("edge_fusion_sdk-0.1.0.dist-info/entry_points.txt").decode()
    assert {"edge_sdk/__init__.py", "edge_sdk/cli.py", "edge_sdk/data/seek_int8.tflite",
            "firmware_bridge/__init__.py"} <= names
    assert not any("__pycache__" in name for name in names)
    assert "Name: edge-fusion-sdk\n" in metadata
    assert "edge-sdk = edge_sdk.cli:console_main" in entry_points
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert f"./wheels/{WHEEL}" in requirements
    assert "pyyaml>=6.0" in requirements
    assert not any(line.startswith(("edge-fusion-sdk", "edge-sdk", "ai-edge-litert")) for line in requirements)
    assert {path: path.exists() for path in leftovers} == before, "the build must not write into the checkout"


def test_the_source_tree_is_found_from_the_imported_package() -> None:
    assert find_source_tree() == ROOT


def test_the_source_tree_is_found_from_the_install_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `pip install <dir>` (not editable): the package is in site-packages, direct_url.json names the directory
    monkeypatch.setattr(wheel_module, "_package_dir", lambda: tmp_path / "site-packages" / "edge_sdk")

    class Installed:
        def read_text(self, name: str) -> str | None:
            return json.dumps({"url": ROOT.as_uri(), "dir_info": {}}) if name == "direct_url.json" else None

    monkeypatch.setattr(wheel_module.importlib.metadata, "distribution", lambda name: Installed())
    assert find_source_tree() == ROOT


def test_without_a_source_tree_deploy_says_to_pass_a_wheel(
        tmp_path: Path, bundle_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site-packages" / "edge_sdk"
    monkeypatch.setattr(wheel_module, "_package_dir", lambda: site)
    monkeypatch.setattr(wheel_module, "_direct_url_dir", lambda: None)
    code = main(["deploy", "--model", str(bundle_path), "--config", str(config_path), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("edge-sdk deploy: deploy.wheel: no wheel given and no edge-fusion-sdk source tree to "
                          f"build one from (edge_sdk is imported from {site}; expected a setup.cfg naming")
    assert "Pass --wheel FILE: an edge_fusion_sdk-<version>-py3-none-any.whl built with" in err
    assert not (tmp_path / "out").exists()


def test_a_failing_build_says_what_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "src"
    (tree / "edge_sdk").mkdir(parents=True)
    (tree / "setup.cfg").write_text("[metadata]\nname = edge-fusion-sdk\n")
    (tree / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n')
    with pytest.raises(EdgeSDKError, match=rf"building the edge-fusion-sdk wheel from {tree} failed \(pip wheel exit 1: "
                                           r"error: backend-unavailable\)\. Expected a build environment"):
        build_wheel(tree, tmp_path / "wheels")


def test_install_script_installs_the_shipped_wheel_file(tmp_path: Path, bundle_path: Path, config_path: Path) -> None:
    out = make_deployment(bundle_path, config_path, tmp_path / "out")
    script = (out / "install.sh").read_text()
    assert f"EDGE_WHEEL=./wheels/{WHEEL}" in script
    assert 'pip install --force-reinstall --no-deps "$EDGE_WHEEL"' in script
    settings: dict[str, Any] = json.loads((out / "deployment.json").read_text())["options"]
    assert "package" not in settings
