"""The dashboard's search box in headless Chromium, against the device's real search path.

Device side: an Index of seek frames embedded by the dual encoder's ``embed_image`` (with their
thumbnails), answered by :class:`SearchService` on ``cmd/search`` through the real MQTTPublisher,
as ``edge-sdk run`` wires it. Broker: Mosquitto with a websockets listener. The page: the dashboard
server; the test types a query and reads what a user sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard.browser import Chromium, find_chromium  # tests/dashboard, a package beside this one

from edge_sdk.configtools import build
from edge_sdk.dashboard import encode_thumbnail, serve
from edge_sdk.demo.seek.video import SeekClip
from edge_sdk.index import ImageEmbedder, Index, SearchService
from edge_sdk.sinks.mqtt import MQTTConfig
from edge_sdk.sinks.mqtt.publisher import MQTTPublisher
from edge_sdk.testing import MosquittoBroker

pytestmark = [pytest.mark.slow, pytest.mark.broker]
pytest.importorskip("ai_edge_litert")
DEVICE, PREFIX = "pi-search", "edge_sdk"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", websockets=True) as broker:
        yield broker


@pytest.fixture
def device_index(tmp_path: Path, retrieval_bundle: Path, broker: MosquittoBroker) -> Iterator[Index]:
    clip = SeekClip(seconds=10, fps=2, size=96, seed=3)
    index = Index(tmp_path / "index", dim=64, model=retrieval_bundle)
    with ImageEmbedder.from_source(retrieval_bundle) as tower:
        for frame in clip:
            index.add(1.79e9 + frame.t_s, tower.embed(frame.rgb, "RGB"), encode_thumbnail(frame.rgb, "RGB", 96))
    config = build(MQTTConfig, {"device_id": DEVICE, "host": broker.host, "port": broker.port,
                                "outbox": {"path": str(tmp_path / "outbox.sqlite3")}})
    with MQTTPublisher(config) as publisher:  # started by the with, as the runtime starts it
        service = SearchService(index, device=DEVICE, base_topic=publisher.topics.base,
                                publish=lambda topic, payload, qos: publisher.publish_raw(topic, payload, qos=qos))
        publisher.on_command("search", service.handle_text, payload_format="text")
        publisher.wait_connected(10)
        yield index
    index.close()


def test_the_search_box_shows_the_top_k_thumbnails_with_their_times(
        tmp_path: Path, broker: MosquittoBroker, device_index: Index) -> None:
    if find_chromium() is None:
        pytest.skip("needs chromium (apt-get install chromium)")
    with serve(port=0, ws_url=f"ws://127.0.0.1:{broker.ws_port}/", prefix=PREFIX, device=DEVICE) as server, \
            Chromium(tmp_path / "chromium") as browser:
        browser.goto(server.url)
        browser.wait_for("window.edgeDashboard && window.edgeDashboard.client.subscribed")
        browser.evaluate("document.getElementById('search-text').value = 'a red circle on the left'")
        browser.evaluate("document.getElementById('search-k').value = '5'")
        browser.evaluate("document.getElementById('search-go').click()")
        browser.wait_for("document.querySelectorAll('#search-hits li').length === 5", timeout_s=20)
        browser.wait_for("[...document.querySelectorAll('#search-hits img')].every("
                         "(img) => img.src.startsWith('blob:') && img.naturalWidth === 96)", timeout_s=10)
        status = browser.evaluate("document.getElementById('search-status').textContent")
        assert status.startswith("5 of 20 frames"), status
        captions = browser.evaluate("[...document.querySelectorAll('#search-hits .hit-caption')]"
                                    ".map((c) => c.textContent)")
        assert [c.split()[0] for c in captions] == ["#1", "#2", "#3", "#4", "#5"]
        expected = [hit.frame_id for hit in device_index.search("a red circle on the left", k=5)]
        shown = browser.evaluate("[...document.querySelectorAll('#search-hits li')].map((li) => Number(li.dataset.frameId))")
        assert shown == expected
        # an empty box asks nothing and says what to type
        browser.evaluate("document.getElementById('search-text').value = ''")
        browser.evaluate("document.getElementById('search-go').click()")
        assert "type what to look for" in browser.evaluate("document.getElementById('search-status').textContent")
        assert not [line for line in browser.console if "error" in line.lower()], browser.console
