"""``edge-sdk dashboard`` through its registered parser, in a child process (it waits for a signal)."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import urllib.request

from edge_sdk.dashboard.cli import register

_CHILD = """
import argparse, sys
from edge_sdk.dashboard.cli import register
parser = argparse.ArgumentParser(prog="edge-sdk")
register(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def run_child(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_register_adds_dashboard_with_its_options() -> None:
    parser = argparse.ArgumentParser(prog="edge-sdk")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dashboard", "--port", "0", "--device", "pi", "--open-browser", "no"])
    assert (args.port, args.device, args.prefix, args.broker_ws_url, args.open_browser) == (0, "pi", "edge_sdk", None, "no")


def test_dashboard_prints_its_url_serves_the_config_and_exits_0_on_sigterm() -> None:
    child = run_child("dashboard", "--port", "0", "--broker-ws-url", "ws://127.0.0.1:9001/", "--device", "pi")
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "config.json", timeout=5) as response:
            assert json.load(response) == {"ws_url": "ws://127.0.0.1:9001/", "prefix": "edge_sdk", "device": "pi"}
        child.send_signal(signal.SIGTERM)
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_dashboard_exits_2_with_the_cause_on_a_bad_broker_url() -> None:
    child = run_child("dashboard", "--port", "0", "--broker-ws-url", "mqtt://broker:1883")
    _, stderr = child.communicate(timeout=10)
    assert child.returncode == 2
    assert stderr.strip() == "edge-sdk dashboard: broker WebSocket URL must start with ws:// or wss://. Got: 'mqtt://broker:1883'"
