"""The live web dashboard: a static page that subscribes over MQTT-over-WebSockets.

``edge-sdk dashboard`` (:mod:`edge_sdk.dashboard.cli`) runs :class:`DashboardServer`, which serves
``static/`` and a ``config.json``; the page's own MQTT 3.1.1 client (``static/mqtt-ws.js``) talks
to the broker directly. :class:`SnapshotPublisher` puts frame thumbnails on
``<prefix>/<device>/snapshot`` for it. Importing this package starts nothing and imports no
OpenCV (only :func:`encode_thumbnail` needs it).
"""

from edge_sdk._lazy import lazy_exports

# names load on first use (PEP 562): registering the CLI command must not import what runs it
_EXPORTS = {
    "DashboardConfig": "edge_sdk.dashboard.server",
    "DashboardServer": "edge_sdk.dashboard.server",
    "serve": "edge_sdk.dashboard.server",
    "PublishBytes": "edge_sdk.dashboard.snapshot",
    "SnapshotPublisher": "edge_sdk.dashboard.snapshot",
    "encode_thumbnail": "edge_sdk.dashboard.snapshot",
    "snapshot_topic": "edge_sdk.dashboard.snapshot",
}

__all__ = [
    "DashboardConfig",
    "DashboardServer",
    "PublishBytes",
    "SnapshotPublisher",
    "encode_thumbnail",
    "serve",
    "snapshot_topic",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
