"""Headless Chromium driven over the Chrome DevTools protocol, for the dashboard tests.

Why not Selenium: CDP needs only the browser and a WebSocket client (``websockets``, already
installed with the broker extra), so there is no chromedriver/Chromium version pairing to keep in
step and no extra Python package. The few calls used (navigate, evaluate, screenshot) have been
stable in CDP for years.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.sync.client import ClientConnection, connect

if TYPE_CHECKING:
    from typing import Self

_EXECUTABLES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in _EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    return None


class JavaScriptError(AssertionError):
    """An expression threw in the page."""


class Chromium:
    """One headless browser with one page: ``with Chromium(tmp_path) as browser: browser.goto(url)``."""

    def __init__(self, workdir: Path, *, width_px: int = 1280, height_px: int = 900) -> None:
        self.workdir = workdir
        self.width_px, self.height_px = width_px, height_px
        self.console: list[str] = []  # console messages and uncaught exceptions, for assertions
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._next_id = 0

    def start(self, timeout_s: float = 20.0) -> Self:
        executable = find_chromium()
        if executable is None:
            raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
            "--force-device-scale-factor=1", f"--window-size={self.width_px},{self.height_px}",
            f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "about:blank",
        ]
        log = open(self.workdir / "chromium.log", "wb")  # noqa: SIM115 - handed to the child
        try:
            # Its own session, so close() can end the browser and all its helper processes by one id.
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        port = self._wait_for_port(profile / "DevToolsActivePort", timeout_s)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")
        self._socket = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=timeout_s)
        self.call("Runtime.enable")
        self.call("Page.enable")
        # The window size flag leaves room for browser chrome even when headless; pin the viewport.
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width_px, "height": self.height_px, "deviceScaleFactor": 1, "mobile": False})
        return self

    def _wait_for_port(self, port_file: Path, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}:\n{self.log_text()}")
            if port_file.exists():
                first_line = port_file.read_text().splitlines()[:1]
                if first_line and first_line[0].isdigit():
                    return int(first_line[0])
            time.sleep(0.05)
        raise TimeoutError(f"chromium did not open its DevTools port within {timeout_s} s:\n{self.log_text()}")

    def log_text(self) -> str:
        path = self.workdir / "chromium.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def call(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 15.0) -> dict[str, Any]:
        """Send one CDP command and return its result; events that arrive meanwhile are recorded."""
        assert self._socket is not None, "start() first"
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise TimeoutError(f"no CDP answer to {method} within {timeout_s} s")
            message = json.loads(self._socket.recv(timeout=remaining_s))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"CDP {method} failed: {message['error']}")
                return dict(message.get("result", {}))
            self._record_event(message)

    def _record_event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise JavaScriptError(f"{expression!r} threw: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 10.0) -> Any:
        """Poll until ``expression`` is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        value: Any = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{expression!r} still {value!r} after {timeout_s} s. Console: {self.console}")

    def goto(self, url: str, timeout_s: float = 15.0) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", timeout_s)

    def screenshot(self, path: Path) -> None:
        """The page's content, also below the viewport's fold, without empty space under it."""
        height_px = self.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
        clip = {"x": 0, "y": 0, "width": self.width_px, "height": height_px, "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        socket, process, self._socket, self._process = self._socket, self._process, None, None
        if socket is not None:
            socket.close()
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
