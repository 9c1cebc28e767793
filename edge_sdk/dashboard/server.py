"""The dashboard's web server: the static page plus a generated ``config.json``, stdlib only.

The page itself talks to the MQTT broker over WebSockets; this server only hands out files, so
it needs no MQTT client and keeps no state. The files are read once at start (a few tens of kB)
through :mod:`importlib.resources`, which also works from an installed wheel, and only those
names are served: no path from a request ever reaches the file system.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DashboardConfig", "DashboardServer", "serve"]

logger = logging.getLogger(__name__)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
# Scripts and styles only from this server, WebSocket connections to any broker, thumbnails as
# blob: URLs. The page builds its DOM with textContent, and this makes injected markup inert too.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class DashboardConfig:
    """What the page needs to subscribe: served as ``/config.json``.

    ``ws_url`` None lets the page use ``ws://<the host it was loaded from>:9001/``, the
    embedded broker's default WebSocket port.
    """

    ws_url: str | None = None
    prefix: str = "edge_sdk"
    device: str | None = None

    def __post_init__(self) -> None:
        if self.ws_url is not None and not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"broker WebSocket URL must start with ws:// or wss://. Got: {self.ws_url!r}")
        if not self.prefix or any(ch in self.prefix for ch in "+#") or self.prefix.endswith("/"):
            raise ValueError(f"topic prefix must be non-empty, without '+', '#' or a trailing '/'. Got: {self.prefix!r}")
        if self.device is not None and (not self.device or any(ch in self.device for ch in "/+#")):
            raise ValueError(f"device id must be one topic level, without '/', '+' or '#'. Got: {self.device!r}")


def _load_static() -> dict[str, tuple[bytes, str]]:
    """``{"/index.html": (body, content type), ...}`` for every file in ``static/``."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("edge_sdk.dashboard").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in _CONTENT_TYPES:
            files["/" + entry.name] = (entry.read_bytes(), _CONTENT_TYPES[suffix])
    if "/index.html" not in files:
        raise FileNotFoundError("edge_sdk/dashboard/static/index.html is missing from the installed package")
    files["/"] = files["/index.html"]
    return files


class _Handler(BaseHTTPRequestHandler):
    server_version = "edge_sdk-dashboard"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        assert isinstance(self.server, _Server)
        found = self.server.files.get(path)
        if found is None:
            body, content_type, status = b"not found\n", "text/plain; charset=utf-8", HTTPStatus.NOT_FOUND
        else:
            (body, content_type), status = found, HTTPStatus.OK
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # The page is tiny and config.json changes with each start: never serve a stale one.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # http.server writes access lines to stderr; the library logs instead.
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, tuple[bytes, str]]


class DashboardServer:
    """``with DashboardServer(DashboardConfig(ws_url=...), port=8080) as server: print(server.url)``

    Serves on its own named thread; port 0 picks a free port. :meth:`close` is idempotent.
    """

    def __init__(self, config: DashboardConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.state = "created"  # created -> serving -> closed
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Self:
        if self.state == "serving":
            return self
        if self.state == "closed":
            raise RuntimeError("a closed DashboardServer cannot be started again; make a new one")
        files = _load_static()
        files["/config.json"] = (json.dumps(asdict(self.config)).encode(), "application/json")
        try:
            server = _Server((self.host, self.port), _Handler)
        except OSError as exc:
            raise OSError(exc.errno, f"dashboard cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        server.files = files
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="edge_sdk-dashboard-http", daemon=True)
        self._thread.start()
        self.state = "serving"
        logger.info("dashboard on %s (broker %s, topics %s/%s/...)", self.url, self.config.ws_url or "ws://<page host>:9001/",
                    self.config.prefix, self.config.device or "+")
        return self

    def close(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        self.state = "closed"
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(host: str = "127.0.0.1", port: int = 8080, ws_url: str | None = None, prefix: str = "edge_sdk",
          device: str | None = None) -> DashboardServer:
    """Start a dashboard server and return it (a context manager that stops it)."""
    return DashboardServer(DashboardConfig(ws_url=ws_url, prefix=prefix, device=device), host, port).start()
