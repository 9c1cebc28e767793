"""The distribution's name: free on the package index, and the one every install hint names.

``edge-sdk`` on PyPI is an unrelated project (market data), so a hint or a pin naming it installs
somebody else's code. The import package stays ``edge_sdk`` and the command ``edge-sdk``.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
from pathlib import Path

import pytest

import edge_sdk
from edge_sdk._lazy import require
from edge_sdk.distribution import DISTRIBUTION, WHEEL_PREFIX, version
from edge_sdk.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*sorted(p for package in ("edge_sdk", "converters", "firmware_bridge", "examples", "bench")
                   for p in (ROOT / package).rglob("*.py")),
           ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*.md"))]
# pip install 'NAME[extra]', pip install "NAME[extra]", pip install NAME==1.0, pip install NAME
_HINT = re.compile(r"""pip install\s+['"]?([A-Za-z][A-Za-z0-9._-]*)(\[[^\]]*\]|==[^\s'"`]*)?""")
_METADATA_LOOKUP = re.compile(r"""metadata\.(?:version|requires|distribution)\(\s*["']([^"']+)["']""")
# What the hints may name besides the distribution: third-party packages installed on their own.
_THIRD_PARTY = {"pyserial", "tflite-runtime", "ai-edge-litert", "shellcheck", "numpy", "sqlite3"}


def hints() -> list[tuple[str, str, str]]:
    found = []
    for path in SOURCES:
        for match in _HINT.finditer(path.read_text(encoding="utf-8")):
            found.append((f"{path.relative_to(ROOT)}", match.group(1), match.group(0)))
    return found


def test_setup_cfg_declares_the_distribution_and_takes_the_version_from_the_package() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["name"] == DISTRIBUTION == "edge-fusion-sdk"
    assert setup["metadata"]["version"] == "attr: edge_sdk.__version__"
    assert "edge-sdk = edge_sdk.cli:console_main" in setup["options.entry_points"]["console_scripts"]
    assert WHEEL_PREFIX == "edge_fusion_sdk-"


def test_every_install_hint_names_the_real_distribution() -> None:
    found = hints()
    ours = [hint for hint in found if hint[1] not in _THIRD_PARTY]
    assert len(ours) >= 6, f"expected the install hints of _lazy, the backend, the bridge and the README. Got: {ours}"
    wrong = [f"{where}: {text}" for where, name, text in ours if name != DISTRIBUTION]
    assert not wrong, f"install hints naming something other than {DISTRIBUTION}: {wrong}"


def test_no_source_looks_up_or_pins_the_old_name() -> None:
    wrong = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        wrong += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in _METADATA_LOOKUP.finditer(text)
                  if m.group(1) in ("edge-sdk", "edge_sdk")]
        wrong += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(r"edge[-_]sdk(?:==|\[)\S*", text)]
    assert not wrong, wrong


def test_a_missing_optional_module_names_the_distribution_and_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"Install it with: pip install 'edge-fusion-sdk\[device\]'"):
        require("edge_sdk_test_no_such_module", "a test")


def test_version_comes_from_the_metadata_or_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert version() == edge_sdk.__version__
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9" if name == DISTRIBUTION else "")
    assert version() == "9.9"
