"""``LinkHealth``: every failed connection attempt and every refusal, counted, described and logged.

A connection attempt can fail in four places, and each one is counted once in
``connect_failures`` with its cause in ``last_error``, whatever the layer: the socket or the TLS
handshake (an exception paho swallows), the CONNACK (a refusal with a reason code), or the broker
hanging up before the CONNACK (what paho only logs: e.g. a TLS 1.3 broker that wants a client
certificate sends its alert after the client's handshake is done). A new cause is logged at
ERROR, its repeats at every backoff period at DEBUG. Results refused by the broker (MQTT 5 reason
codes in PUBACK, e.g. an ACL) are counted in ``refused_by_broker``.
"""

from __future__ import annotations

import collections
import logging
import sys
from typing import Any

from edge_sdk.errors import PublishError
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.connection import (
    PahoErrors,
    describe_connect_failure,
    describe_dropped_attempt,
    describe_refusal,
)

__all__ = ["LinkHealth"]

logger = logging.getLogger("edge_sdk.sinks.mqtt.link")  # the link's log: one place to look


class LinkHealth:
    """Counts in the link's ``counts``; call the methods from paho's callbacks (its network thread)."""

    def __init__(self, config: MQTTConfig, counts: collections.Counter[str], events_topic: str) -> None:
        self._config = config
        self._counts = counts
        self._events_topic = events_topic
        self._paho_errors = PahoErrors()
        self._attempt_failed = False  # this attempt is counted in connect_failures already
        self.last_error: PublishError | None = None  # kept after recovery, for the record
        self.last_error_kind: str | None = None  # tls, network, refused

    def attach(self, client: Any) -> None:
        self._paho_errors.attach(client)

    def attempt_started(self) -> None:
        """paho's ``on_pre_connect``: a new attempt, with nothing against it yet."""
        self._paho_errors.last = None
        self._attempt_failed = False

    def connect_raised(self) -> None:
        """paho's ``on_connect_fail``, called inside its ``except OSError`` block: the socket or the
        TLS handshake failed; sys.exc_info() is the only way to the cause paho keeps to itself."""
        exc = sys.exc_info()[1] or ConnectionError("connection failed")
        self._failed(*describe_connect_failure(self._config, exc))

    def refused_connect(self, reason_code: Any) -> None:
        """A CONNACK with a failure reason code (wrong password, not authorized...)."""
        self._failed("refused", describe_refusal(self._config, reason_code))

    def disconnected(self, reason_code: Any, *, was_connected: bool, pending: int) -> None:
        """The connection ended: lost after a CONNACK, or dropped before one (a failed attempt)."""
        if was_connected:
            self._counts["disconnects"] += 1
            cause = "; ".join(filter(None, (str(reason_code), self._paho_errors.last)))
            logger.warning("lost the MQTT connection (%s); %d results in the outbox, reconnecting with backoff",
                           cause, pending)
        elif not self._attempt_failed:
            self._failed(*describe_dropped_attempt(self._config, reason_code, self._paho_errors.last))

    def connected(self) -> None:
        self._counts["connects"] += 1
        if self.last_error is not None:
            logger.info("connected to %s:%d after: %s", self._config.host, self._config.effective_port,
                        self.last_error)

    def refused_results(self, refused: int, reason: str) -> None:
        """Results the broker refused in its PUBACK (MQTT 5 only: 3.1.1 has no reason code)."""
        first = self._counts["refused"] == 0
        self._counts["refused"] += refused
        self.last_error_kind = "refused"
        self.last_error = PublishError(
            f"MQTT broker refused {self._counts['refused']} result(s) so far on {self._events_topic} "
            f"({reason}); check the broker ACL for user {self._config.username or '(anonymous)'}"
        )
        logger.log(logging.ERROR if first else logging.DEBUG, "%s", self.last_error)

    def _failed(self, kind: str, error: PublishError) -> None:
        self._attempt_failed = True
        self._counts["connect_failures"] += 1
        same = self.last_error is not None and str(self.last_error) == str(error)
        self.last_error, self.last_error_kind = error, kind
        logger.log(logging.DEBUG if same else logging.ERROR, "%s Retrying with backoff.", error)
