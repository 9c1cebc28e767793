"""Runs the JavaScript MQTT client's unit tests (tests/dashboard/mqtt_ws.test.js) with node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)")
def test_js_mqtt_client_packets_match_mqtt_3_1_1() -> None:
    test_file = Path(__file__).with_name("mqtt_ws.test.js")
    assert NODE is not None
    result = subprocess.run([NODE, "--test", str(test_file)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
