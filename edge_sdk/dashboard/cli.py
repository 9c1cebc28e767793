"""``edge-sdk dashboard``: serve the live web dashboard until SIGINT or SIGTERM.

Wired into the main parser with :func:`register`. Prints the page's URL to stdout (data) and
logs the rest; exit 0 on a signal, 2 when the arguments are bad or the port is taken.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import webbrowser
from types import FrameType

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``dashboard`` to ``edge-sdk``'s sub-commands."""
    parser = subparsers.add_parser(
        "dashboard", help="serve a live web dashboard that subscribes to a device over MQTT-over-WebSockets",
        description="Serve the dashboard page. The browser connects to the broker's WebSocket listener itself "
                    "(Mosquitto: 'listener 9001' + 'protocol websockets'; the embedded broker: mqtt.ws_port).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: the whole LAN); default %(default)s")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port; 0 picks a free one; default %(default)s")
    parser.add_argument("--broker-ws-url", default=None,
                        help="the broker's MQTT-over-WebSockets URL (ws://host:9001/); default: port 9001 "
                             "on the host the page was loaded from")
    parser.add_argument("--prefix", default="edge_sdk", help="topic prefix; default %(default)s")
    parser.add_argument("--device", default=None, help="device id to show; default: the first device heard from")
    parser.add_argument("--open-browser", choices=("yes", "no"), default="no",
                        help="open the page in the default browser; default %(default)s")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        from edge_sdk.dashboard.server import DashboardConfig, DashboardServer  # http.server: on use

        config = DashboardConfig(ws_url=args.broker_ws_url, prefix=args.prefix, device=args.device)
    except ValueError as exc:
        print(f"edge-sdk dashboard: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with DashboardServer(config, args.host, args.port) as server:
            print(server.url, flush=True)
            if args.open_browser == "yes":
                webbrowser.open(server.url)
            stop.wait()
    except OSError as exc:
        print(f"edge-sdk dashboard: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
