"""Test utilities shipped with edge_sdk: a real Mosquitto on a free port and an MQTT recorder.

Importing this package starts nothing; paho is imported only when a recorder is made.
"""

from edge_sdk.testing.mosquitto import (
    MosquittoBroker,
    free_port,
    make_ca,
    make_certificate,
)
from edge_sdk.testing.recorder import MQTTRecorder, Received
from edge_sdk.testing.results import example_result

__all__ = [
    "MQTTRecorder",
    "MosquittoBroker",
    "Received",
    "example_result",
    "free_port",
    "make_ca",
    "make_certificate",
]
