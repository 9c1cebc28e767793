"""edge_sdk.dashboard's public names: complete, and importing them pulls no OpenCV or paho."""

from __future__ import annotations

import subprocess
import sys

import edge_sdk.dashboard
from edge_sdk.dashboard import server, snapshot


def test_package_exports_every_public_name_of_its_modules() -> None:
    assert sorted(edge_sdk.dashboard.__all__) == sorted({*server.__all__, *snapshot.__all__})
    for name in edge_sdk.dashboard.__all__:
        assert getattr(edge_sdk.dashboard, name) is not None


def test_import_starts_nothing_heavy() -> None:
    code = "import sys, edge_sdk.dashboard, edge_sdk.dashboard.cli; print(sorted(m for m in ('cv2', 'paho') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
