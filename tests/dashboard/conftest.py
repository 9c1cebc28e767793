"""Fixtures for the dashboard tests: Mosquitto with a websockets listener, the server, a browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.dashboard import DashboardServer, serve
from edge_sdk.testing import MosquittoBroker

from .browser import Chromium, find_chromium

HAVE_MOSQUITTO = shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()
DEVICE = "pi-test"
PREFIX = "edge_sdk"


@pytest.fixture(scope="module")
def ws_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    if not HAVE_MOSQUITTO:
        pytest.skip("needs the mosquitto binary (apt-get install mosquitto)")
    with MosquittoBroker(tmp_path_factory.mktemp("broker"), websockets=True) as broker:
        yield broker


@pytest.fixture(scope="module")
def dashboard(ws_broker: MosquittoBroker) -> Iterator[DashboardServer]:
    with serve(port=0, ws_url=f"ws://127.0.0.1:{ws_broker.ws_port}/", prefix=PREFIX, device=DEVICE) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if find_chromium() is None:
        pytest.skip("needs chromium (apt-get install chromium)")
    with Chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium
