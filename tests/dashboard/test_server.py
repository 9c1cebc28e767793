"""The dashboard's HTTP server: what it serves, what it refuses, and its config validation."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from edge_sdk.dashboard import DashboardConfig, DashboardServer, serve


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_server_serves_the_page_its_scripts_and_a_config_with_broker_prefix_and_device() -> None:
    with serve(port=0, ws_url="ws://10.0.0.5:9001/", prefix="plant", device="pi-kitchen") as server:
        status, headers, body = fetch(server.url)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        for script in (b"mqtt-ws.js", b"chart.js", b"app.js"):
            assert script in body
            assert fetch(server.url + script.decode())[0] == 200
        assert fetch(server.url + "style.css")[1]["Content-Type"].startswith("text/css")
        status, headers, body = fetch(server.url + "config.json?t=1")
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert json.loads(body) == {"ws_url": "ws://10.0.0.5:9001/", "prefix": "plant", "device": "pi-kitchen"}
        assert "connect-src 'self' ws: wss:" in headers["Content-Security-Policy"]


def test_server_answers_404_to_paths_outside_its_files() -> None:
    with serve(port=0) as server:
        for path in ("../setup.cfg", "%2e%2e/setup.cfg", "server.py", "static/app.js", "nope"):
            assert fetch(server.url + path)[0] == 404, path


def test_config_without_broker_url_lets_the_page_choose_and_close_is_idempotent() -> None:
    server = DashboardServer(DashboardConfig(), port=0).start()
    assert server.state == "serving"
    assert json.loads(fetch(server.url + "config.json")[2]) == {"ws_url": None, "prefix": "edge_sdk", "device": None}
    server.close()
    server.close()
    assert server.state == "closed"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ws_url": "http://broker:9001"}, r"must start with ws:// or wss://\. Got: 'http://broker:9001'"),
        ({"prefix": "edge_sdk/#"}, r"topic prefix must be non-empty, without '\+', '#' or a trailing '/'\. Got: 'edge_sdk/#'"),
        ({"device": "a/b"}, r"device id must be one topic level, without '/', '\+' or '#'\. Got: 'a/b'"),
    ],
)
def test_config_rejects_what_would_make_wrong_topics(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DashboardConfig(**options)


def test_a_taken_port_is_an_oserror_naming_the_address() -> None:
    with serve(port=0) as first, pytest.raises(OSError, match=f"dashboard cannot listen on 127.0.0.1:{first.port}"):
        serve(port=first.port)
