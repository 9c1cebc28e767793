"""End to end: ``edge-sdk run`` with a captioner -> real Mosquitto -> the dashboard page in headless Chromium,
which shows the latest caption under the thumbnail."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard.browser import Chromium
from dashboard.conftest import DEVICE, browser, dashboard, ws_broker  # noqa: F401 - fixtures

from edge_sdk import Runtime, parse_config
from edge_sdk.dashboard import DashboardServer
from edge_sdk.testing import MosquittoBroker

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_the_page_shows_the_latest_caption_under_the_thumbnail(
        browser: Chromium, dashboard: DashboardServer, ws_broker: MosquittoBroker,  # noqa: F811
        tiny_captioner: Path, tmp_path: Path) -> None:
    browser.goto(dashboard.url)
    browser.wait_for("window.edgeDashboard && window.edgeDashboard.client.subscribed")
    assert browser.evaluate("document.getElementById('caption').hidden") is True  # nothing described yet
    config = parse_config({
        "device": DEVICE, "model": {"path": str(tiny_captioner)},
        "camera": {"source": "seek://?seconds=1&fps=10&size=64", "playback": "every_frame"},
        "mqtt": {"host": ws_broker.host, "port": ws_broker.port, "outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
        "output": {"snapshot_hz": 50}, "describe": {"every_s": 0.3, "beam_size": 1},
    })
    with Runtime(config) as runtime:
        summary = runtime.run()
    last = summary["describe"]["last_text"]
    assert summary["describe"]["published"] == 4 and last
    browser.wait_for(f"document.getElementById('caption-text').textContent === {last!r}")
    assert browser.evaluate("document.getElementById('caption').hidden") is False
    meta = str(browser.evaluate("document.getElementById('caption-meta').textContent"))
    assert meta.startswith("caption · beam 1 · ")
    assert browser.evaluate("document.getElementById('caption-source').hidden") is True
    browser.wait_for("document.getElementById('snapshot').naturalWidth > 0")  # the thumbnail above it
    # the decision card shows the generate result's text too
    browser.wait_for(f"document.getElementById('decision-label').textContent === {last!r}")
