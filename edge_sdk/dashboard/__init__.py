"""The live web dashboard: a static page that subscribes over MQTT-over-WebSockets.

``edge-sdk dashboard`` (:mod:`edge_sdk.dashboard.cli`) runs :class:`DashboardServer`, which serves
``static/`` and a ``config.json``; the page's own MQTT 3.1.1 client (``static/mqtt-ws.js``) talks
to the broker directly. :class:`SnapshotPublisher` puts frame thumbnails on
``<prefix>/<device>/snapshot`` for it. Importing this package starts nothing and imports no
OpenCV (only :func:`encode_thumbnail` needs it).
"""

from edge_sdk.dashboard.server import DashboardConfig, DashboardServer, serve
from edge_sdk.dashboard.snapshot import (
    PublishBytes,
    SnapshotPublisher,
    encode_thumbnail,
    snapshot_topic,
)

__all__ = [
    "DashboardConfig",
    "DashboardServer",
    "PublishBytes",
    "SnapshotPublisher",
    "encode_thumbnail",
    "serve",
    "snapshot_topic",
]
