"""Making a paho-mqtt 2.x client from :class:`MQTTConfig`, and translating paho's failures.

paho reports failures through four channels (CONNACK reason codes, disconnect reason codes,
exceptions swallowed by its reconnect loop, and socket errors it only logs, such as the TLS alert of a
broker that wants a client certificate); :func:`describe_connect_failure`, :func:`describe_refusal`
and :func:`describe_dropped_attempt` turn them into one :class:`PublishError` with a message that
says what was expected and what to check. :class:`PahoErrors` keeps the errors paho logs.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.errors import ConfigError, PublishError
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.topics import Topics

__all__ = [
    "PahoErrors", "describe_connect_failure", "describe_dropped_attempt", "describe_refusal", "end_as_crashed",
    "make_client", "make_tls_context",
]

# MQTT 5 DISCONNECT reason code 0x04: the client leaves, and the broker still publishes its will.
_DISCONNECT_WITH_WILL = 4


def make_tls_context(config: MQTTConfig) -> ssl.SSLContext:
    """A verifying client context; file problems are config errors, found before any connect."""
    tls = config.tls
    try:
        context = ssl.create_default_context(cafile=tls.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"mqtt.tls.ca_file: cannot load a PEM CA from {tls.ca_file!r}: {exc}") from exc
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"mqtt.tls: cannot load the client certificate {tls.cert_file!r} with key {tls.key_file!r}: {exc}"
            ) from exc
    if tls.insecure:
        context.check_hostname = False  # the chain is still verified against the CA
    return context


def make_client(config: MQTTConfig, client_id: str, topics: Topics) -> Any:
    """A configured, not yet connected ``paho.mqtt.client.Client``."""
    mqtt = require("paho.mqtt.client", "publishing over MQTT")
    protocol = mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311
    kwargs: dict[str, Any] = {}
    if protocol == mqtt.MQTTv311:
        # Delivery state lives in our outbox, not in the broker's session, so every connect is clean.
        kwargs["clean_session"] = True
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        transport=config.transport,
        reconnect_on_failure=True,
        **kwargs,
    )
    if config.transport == "websockets":
        client.ws_set_options(path=config.websocket_path)
    if config.username:
        client.username_pw_set(config.username, config.password or None)
    if config.tls.active:
        client.tls_set_context(make_tls_context(config))
    client.will_set(topics.available, b"offline", qos=1, retain=True)
    # paho types the delays as int but computes with floats; sub-second delays matter for tests.
    client.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)
    # Our outbox thread bounds what is handed to paho (outbox.inflight_window), so paho's own limit
    # is off: with a limit, paho rescans every unacknowledged message on each PUBACK (O(window)).
    client.max_inflight_messages_set(0)
    return client


def describe_refusal(config: MQTTConfig, reason_code: Any) -> PublishError:
    """A CONNACK refusal (wrong password, not authorized, bad client id...)."""
    where = f"{config.host}:{config.effective_port}"
    name = str(reason_code)
    value = getattr(reason_code, "value", reason_code)
    hint = ""
    lowered = name.lower()
    if "password" in lowered or "authori" in lowered or value in (4, 5, 134, 135):
        user = f"username {config.username!r}" if config.username else "no username"
        hint = f" Check mqtt.username and mqtt.password (sent {user})."
    elif "identifier" in lowered:
        hint = " Check mqtt.client_id."
    return PublishError(f"MQTT broker {where} refused the connection: {name} (reason code {value}).{hint}")


def describe_connect_failure(config: MQTTConfig, exc: BaseException) -> tuple[str, PublishError]:
    """Return ``(kind, error)`` for an exception raised while connecting; kind is tls, network."""
    where = f"{config.host}:{config.effective_port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", PublishError(
            f"TLS handshake with {where} failed: {exc.verify_message or exc.reason}. Expected a broker "
            f"certificate signed by the CA in mqtt.tls.ca_file ({config.tls.ca_file or 'system store'}) "
            f"and valid for host {config.host!r}"
        )
    if isinstance(exc, ssl.SSLError):
        return "tls", PublishError(
            f"TLS handshake with {where} failed: {exc.reason or exc}. Check that the port speaks TLS "
            "and the mqtt.tls options"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "network", PublishError(f"nothing accepts MQTT connections at {where} (connection refused)")
    if isinstance(exc, TimeoutError):
        return "network", PublishError(f"connecting to {where} timed out")
    return "network", PublishError(f"cannot connect to {where}: {type(exc).__name__}: {exc}")


def describe_dropped_attempt(config: MQTTConfig, reason_code: Any, socket_error: str | None) -> tuple[str, PublishError]:
    """``(kind, error)`` for a connection that ended before the broker accepted it: the TCP (and
    TLS, from this side) handshake worked, then the broker hung up. ``socket_error`` is what paho
    logged; a TLS 1.3 broker that wants a client certificate says so only here, after the handshake."""
    where = f"{config.host}:{config.effective_port}"
    if socket_error and ("SSL" in socket_error or "TLS" in socket_error):
        lowered = socket_error.lower()
        if "certificate required" in lowered or "certificate_required" in lowered:
            if config.tls.cert_file:
                hint = f"It did not accept the certificate in mqtt.tls.cert_file ({config.tls.cert_file})"
            else:
                hint = "It requires a client certificate and none is configured: set mqtt.tls.cert_file and key_file"
        elif "certificate" in lowered or "unknown ca" in lowered:
            hint = f"It rejected the client certificate in mqtt.tls.cert_file ({config.tls.cert_file or 'none'})"
        else:
            hint = "Check that the port speaks TLS and the mqtt.tls options"
        return "tls", PublishError(f"TLS with {where} failed: the broker ended the connection ({socket_error}). {hint}")
    hint = "Check the broker's log, and that the port speaks MQTT over the configured transport"
    if config.protocol == "5":
        hint += " and MQTT 5 (a broker that speaks only 3.1.1 needs mqtt.protocol: 3.1.1)"
    if not socket_error and "keep alive" in str(reason_code).lower():  # paho's timer: no CONNACK came
        return "network", PublishError(
            f"MQTT broker {where} did not answer the CONNECT within the keepalive ({config.keepalive_s} s). {hint}.")
    cause = socket_error or f"{reason_code}"
    return "network", PublishError(f"MQTT broker {where} closed the connection before accepting it ({cause}). {hint}.")


class PahoErrors(logging.Handler):
    """The last error paho logged: socket errors it reports nowhere else (TLS alerts after the handshake).

    paho's own logger is off by default; this attaches an unregistered logger at ERROR level, so
    paho's per-message debug lines cost one level check, not a formatted string (as ``on_log`` would).
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None
        # unregistered on purpose: one per client, outside the logging tree (paho logs there only to us)
        self._logger = logging.Logger("edge_sdk.sinks.mqtt.paho", logging.ERROR)  # noqa: LOG001
        self._logger.propagate = False
        self._logger.addHandler(self)

    def attach(self, client: Any) -> None:
        client.enable_logger(self._logger)

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def end_as_crashed(client: Any, config: MQTTConfig, topics: Topics,
                   wait: Callable[[Callable[[], bool], float], bool], timeout_s: float = 2.0) -> None:
    """Leave a connected session so that subscribers see ``offline``, as after a crash.

    MQTT 5: DISCONNECT with reason code 0x04 (disconnect with will message), and the broker publishes
    the last will. MQTT 3.1.1 has no such code (a DISCONNECT discards the will), so ``offline`` is
    published here, retained, like the will, before the DISCONNECT. ``wait(done, timeout_s)`` waits
    for its PUBACK while paho runs (its thread, or the selector loop).
    """
    if config.protocol == "5":
        reason_codes = require("paho.mqtt.reasoncodes", "publishing over MQTT")
        packet_types = require("paho.mqtt.packettypes", "publishing over MQTT")
        client.disconnect(reasoncode=reason_codes.ReasonCode(packet_types.PacketTypes.DISCONNECT,
                                                             identifier=_DISCONNECT_WITH_WILL))
        return
    info = client.publish(topics.available, b"offline", qos=1, retain=True)
    try:
        wait(info.is_published, timeout_s)
    except (RuntimeError, ValueError):  # the connection went meanwhile: the broker sends the will itself
        pass
    client.disconnect()
