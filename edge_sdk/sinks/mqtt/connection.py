"""Making a paho-mqtt 2.x client from :class:`MQTTConfig`, and translating paho's failures.

paho reports failures through three channels (CONNACK reason codes, disconnect reason codes and
exceptions swallowed by its reconnect loop); :func:`describe_connect_failure` and
:func:`describe_refusal` turn them into one :class:`PublishError` with a message that says what
was expected and what to check.
"""

from __future__ import annotations

import ssl
from typing import Any

from edge_sdk._lazy import require
from edge_sdk.errors import ConfigError, PublishError
from edge_sdk.sinks.mqtt.config import MQTTConfig
from edge_sdk.sinks.mqtt.topics import Topics

__all__ = ["describe_connect_failure", "describe_refusal", "make_client", "make_tls_context"]


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
