"""``edge-sdk serve-models DIR``: bundles and their update documents over HTTP for a fleet on a LAN.

Standard library only. Files directly in ``DIR`` are served (no listing, no subdirectories, no
``..``), with ``Range`` requests so an interrupted download resumes where it stopped.
"""

from __future__ import annotations

import http.server
import logging
import re
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Self

__all__ = ["ModelServer"]

_log = logging.getLogger(__name__)
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
_BLOCK = 64 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        path = self.server.root / name
        if not name or "/" in name or name.startswith(".") or not path.is_file():
            self._status(404, f"no such file: {name or '/'}")
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        wanted = self.headers.get("Range")
        if wanted:
            match = _RANGE.match(wanted.strip())
            if match is None or int(match.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Type", "application/json" if name.endswith(".json") else "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as handle:
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                block = handle.read(min(_BLOCK, left))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)
        self.server.served += 1

    def _status(self, code: int, message: str) -> None:
        data = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        _log.info("%s %s", self.address_string(), format % args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    served = 0


class ModelServer:
    """Serves ``directory`` on ``host:port`` (0: a free port) from a named thread."""

    def __init__(self, directory: str | Path, host: str = "0.0.0.0", port: int = 8000) -> None:
        self.root = Path(directory).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"serve-models: {directory} is not a directory")
        self._server = _Server((host, port), _Handler)
        self._server.root = self.root
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{urllib.parse.quote(name)}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name="edge_sdk-serve-models", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        self._server.shutdown() if self._thread is not None else None
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
