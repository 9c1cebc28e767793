"""MQTTConfig from mappings: defaults, environment secrets, and errors that say what was expected."""

from __future__ import annotations

import pytest

from edge_sdk.configtools import build
from edge_sdk.errors import ConfigError
from edge_sdk.sinks.mqtt import MQTTConfig


def test_defaults_give_unique_client_ids_and_standard_ports() -> None:
    config = build(MQTTConfig, {"device_id": "pi-kitchen"}, "mqtt")
    assert config.effective_port == 1883 and config.protocol == "5"
    first, second = config.make_client_id(), config.make_client_id()
    assert first.startswith("edge-sdk-pi-kitchen-") and first != second
    tls = build(MQTTConfig, {"device_id": "pi", "tls": {"ca_file": "/ca.pem"}}, "mqtt")
    assert tls.effective_port == 8883


def test_password_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PI_MQTT_PASSWORD", "hunter2")
    config = build(MQTTConfig, {"device_id": "pi", "username": "pi", "password": "${PI_MQTT_PASSWORD}"}, "mqtt")
    assert config.password == "hunter2"


def test_unknown_keys_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.outbox\.max_size: unknown key\. Valid keys for mqtt\.outbox: "
                                          r"drop_policy, inflight_window, max_age_s, max_bytes, memory_rows, path"):
        build(MQTTConfig, {"device_id": "pi", "outbox": {"max_size": 10}}, "mqtt")


@pytest.mark.parametrize("data, message", [
    ({"device_id": "pi/kitchen"}, r"mqtt\.device_id: expected 1-64 letters.*Got: 'pi/kitchen'"),
    ({"device_id": "pi", "protocol": "3.1"}, r"mqtt\.protocol: expected one of '3\.1\.1', '5'\. Got: '3\.1'"),
    ({"device_id": "pi", "outbox": {"drop_policy": "drop_newest"}},
     r"mqtt\.outbox\.drop_policy: expected one of 'drop_oldest', 'reject_new'\. Got: 'drop_newest'"),
    ({"device_id": "pi", "password": "x"}, r"mqtt\.password is set but mqtt\.username is empty"),
    ({"device_id": "pi", "tls": {"cert_file": "c.pem"}}, r"mqtt\.tls: cert_file and key_file go together"),
    ({"device_id": "pi", "reconnect_min_s": 5, "reconnect_max_s": 1},
     r"expected 0 < reconnect_min_s <= reconnect_max_s\. Got: reconnect_min_s=5\.0, reconnect_max_s=1\.0"),
    ({"device_id": "pi", "topic_prefix": "a/#"}, r"mqtt\.topic_prefix: expected a non-empty topic"),
])
def test_bad_values_say_what_was_expected(data, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build(MQTTConfig, data, "mqtt")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"outbox": {"max_bytes": 10}}, r"mqtt\.outbox\.max_bytes: expected at least 1024\. Got: 10$"),
        ({"outbox": {"inflight_window": 0}}, r"mqtt\.outbox\.inflight_window: expected 1 to 10000\. Got: 0$"),
        ({"port": 70000}, r"mqtt\.port: expected 0 to 65535\. Got: 70000$"),
        ({"homeassistant": {"expire_after_s": -1}}, r"mqtt\.homeassistant\.expire_after_s: expected at least 0\."),
    ],
)
def test_declared_bounds_name_the_key_path_the_user_wrote(section: dict[str, object], message: str) -> None:
    from edge_sdk.config import parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"device": "pi", "mqtt": section})


def test_declared_bounds_name_the_class_when_built_in_code() -> None:
    from edge_sdk.sinks.mqtt.config import OutboxConfig

    with pytest.raises(ConfigError, match=r"^OutboxConfig\.max_age_s: expected a positive number\. Got: 0$"):
        OutboxConfig(max_age_s=0)


# A fast check of the wording; tests/runtime/test_mqtt_auth_tls.py meets the real broker's alert.
_ALERT = ("failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required "
          "(_ssl.c:2580)")


@pytest.mark.parametrize(("tls", "socket_error", "kind", "says"), [
    ({"ca_file": "/ca.pem"}, _ALERT, "tls", "It requires a client certificate and none is configured"),
    ({"ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}, _ALERT, "tls",
     "It did not accept the certificate in mqtt.tls.cert_file (/c.pem)"),
    ({}, None, "network", "closed the connection before accepting it (Unspecified error)"),
])
def test_a_connection_dropped_before_connack_is_described_by_its_layer(tls, socket_error, kind, says) -> None:
    from edge_sdk.sinks.mqtt.connection import describe_dropped_attempt

    config = build(MQTTConfig, {"device_id": "pi", "port": 8883, "tls": tls}, "mqtt")
    got_kind, error = describe_dropped_attempt(config, "Unspecified error", socket_error)
    assert got_kind == kind and says in str(error), str(error)
