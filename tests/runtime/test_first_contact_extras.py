"""A missing extra or a taken port is one line on stderr, never a traceback (issue 14).

Modules are hidden in a child interpreter by a ``sitecustomize`` that refuses to find them, as on a
device where the extra was never installed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_BLOCKER = """
import os, sys

class _Missing:
    def find_spec(self, name, path=None, target=None):
        for hidden in os.environ["EDGE_SDK_TEST_HIDE"].split(","):
            if name == hidden or name.startswith(hidden + "."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Missing())
"""


def _edge_sdk(tmp_path: Path, *args: str, hide: str = "") -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER)
    env = {**os.environ, "EDGE_SDK_TEST_HIDE": hide,
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "edge_sdk.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _config(tmp_path: Path, **sections: object) -> str:
    path = tmp_path / "device.json"
    path.write_text(json.dumps({"device": "pi-extras", "camera": {"source": "seek://?seconds=2&fps=10&size=64"},
                                "text": {"prompt": "find the red circle"}, **sections}))
    return str(path)


def _one_line(done: subprocess.CompletedProcess[str], command: str) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"edge-sdk {command}:")]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0]


def test_run_with_a_bridge_and_no_pyserial_says_what_to_install(tmp_path: Path) -> None:
    config = _config(tmp_path, sensor={"source": "bridge"}, bridge={"url": str(tmp_path / "ttyUSB0")},
                     embedded_broker={"enabled": False})
    done = _edge_sdk(tmp_path, "run", "--config", config, hide="serial")
    line = _one_line(done, "run")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "pyserial is needed for the firmware bridge" in line and "pip install 'edge-fusion-sdk[device]'" in line


def test_train_without_tensorflow_says_what_to_install(tmp_path: Path) -> None:
    done = _edge_sdk(tmp_path, "train", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "out"),
                     hide="tensorflow,keras,tf_keras")
    line = _one_line(done, "train")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "tensorflow is needed for edge-sdk train" in line and "pip install 'edge-fusion-sdk[host]'" in line


def test_an_embedded_broker_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path, sensor={"source": "stdin", "max_age_s": None},
                         embedded_broker={"port": port, "ws_port": None})
        done = _edge_sdk(tmp_path, "run", "--config", config)
    line = _one_line(done, "run")
    assert done.returncode != 0
    assert f"could not listen on 127.0.0.1:{port}" in line and "embedded_broker.port" in line
    assert "amqtt" not in done.stderr, done.stderr[-2000:]
