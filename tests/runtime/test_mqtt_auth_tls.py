"""Password file + ACL, wrong passwords, and TLS with a CA generated at test time."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from edge_sdk.errors import ConfigError, PublishError
from edge_sdk.sinks.mqtt import MQTTPublisher, PublisherState
from edge_sdk.sinks.mqtt.process import PublisherProcess
from edge_sdk.testing import example_result

pytestmark = pytest.mark.broker

USERS = {"pi-test": "s3cret", "watcher": "w4tch"}
ACL = [
    "user pi-test",
    "topic readwrite edge_sdk/pi-test/#",
    "user watcher",
    "topic read edge_sdk/#",
    "topic write edge_sdk/+/cmd/#",
]


def _wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_password_and_acl_allow_the_device_topics(make_broker, recorder_for, mqtt_config, result_validator,
                                                    monkeypatch) -> None:
    broker = make_broker(users=USERS, acl=ACL)
    recorder = recorder_for(broker, ["edge_sdk/#"], username="watcher", password="w4tch")
    monkeypatch.setenv("EDGE_TEST_MQTT_PASSWORD", "s3cret")
    config = mqtt_config(broker, username="pi-test", password="${EDGE_TEST_MQTT_PASSWORD}")
    assert config.password == "s3cret"
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        for i in range(10):
            publisher.publish_result(example_result(i))
        assert publisher.flush(5)
    assert recorder.wait_for(lambda _: len(recorder.on("edge_sdk/pi-test/events")) == 10, 5)
    for message in recorder.on("edge_sdk/pi-test/events"):
        result_validator.validate(message.json())


@pytest.mark.parametrize("delivery", ["threads", "process"])
def test_acl_denial_is_reported_under_mqtt5_and_does_not_block_the_outbox(make_broker, recorder_for, mqtt_config,
                                                                          stats_validator, delivery: str) -> None:
    # pi-test may write its availability and stats, not its results: every result is refused.
    broker = make_broker(users=USERS, acl=["user pi-test", "topic write edge_sdk/pi-test/available",
                                           "topic write edge_sdk/pi-test/stats", "topic read edge_sdk/pi-test/cmd/#",
                                           "user watcher", "topic read edge_sdk/#"])
    recorder = recorder_for(broker, ["edge_sdk/pi-test/#"], username="watcher", password="w4tch")
    publisher_class = PublisherProcess if delivery == "process" else MQTTPublisher
    with publisher_class(mqtt_config(broker, username="pi-test", password="s3cret")) as publisher:
        publisher.wait_connected(5)
        for i in range(3):
            publisher.publish_result(example_result(i))
        assert publisher.flush(5), "refused results must leave the outbox, not loop forever"
        stats = publisher.stats()
        assert publisher.publish_stats({"fps": 1.0})
    assert stats["refused_by_broker"] == 3 and stats["acked"] == 0 and stats["accepted"] == 3
    assert stats["last_error"] == (
        "MQTT broker refused 3 result(s) so far on edge_sdk/pi-test/events (Not authorized); "
        "check the broker ACL for user pi-test"
    )
    # and the stats topic says so, for a dashboard
    assert recorder.wait_for(lambda _: recorder.on("edge_sdk/pi-test/stats"), 5)
    published = recorder.on("edge_sdk/pi-test/stats")[0].json()
    stats_validator.validate(published)
    assert published["mqtt"]["refused_by_broker"] == 3 and published["mqtt"]["accepted"] == 3
    assert published["mqtt"]["last_error"].startswith("MQTT broker refused 3 result(s)")
    assert recorder.on("edge_sdk/pi-test/events") == []


def test_acl_denial_under_mqtt311_is_acknowledged_and_lost_as_documented(make_broker, recorder_for, mqtt_config,
                                                                          caplog) -> None:
    """MQTT 3.1.1 has no reason code in PUBACK: the broker acknowledges a denied publish and drops it.
    The SDK cannot see it (docs/mqtt.md says so), so it warns at start that 3.1.1 is blind to this."""
    broker = make_broker(users=USERS, acl=["user pi-test", "topic readwrite edge_sdk/other/#",
                                           "user watcher", "topic read edge_sdk/#"])
    recorder = recorder_for(broker, ["edge_sdk/#"], username="watcher", password="w4tch")
    config = mqtt_config(broker, protocol="3.1.1", username="pi-test", password="s3cret")
    with caplog.at_level(logging.WARNING), MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        for i in range(3):
            publisher.publish_result(example_result(i))
        assert publisher.flush(5)
        assert publisher.publish_raw("edge_sdk/other/marker", b"after the results", qos=1)  # allowed: a sync point
        stats = publisher.stats()
    assert recorder.wait_for(lambda _: recorder.on("edge_sdk/other/marker"), 5)
    assert recorder.on("edge_sdk/pi-test/events") == []  # denied, and nothing told the publisher
    assert stats["refused_by_broker"] == 0 and stats["acked"] == 3  # the protocol's blind spot, not a count
    assert any("MQTT 3.1.1" in r.getMessage() and "lost silently" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


def test_wrong_password_gives_a_clear_error_and_keeps_retrying(make_broker, mqtt_config, caplog) -> None:
    broker = make_broker(users=USERS, acl=ACL)
    config = mqtt_config(broker, username="pi-test", password="wrong")
    with MQTTPublisher(config) as publisher:
        with pytest.raises(PublishError, match=(
            r"not connected to MQTT broker 127\.0\.0\.1:\d+ after 2\.0 s\. Last error: MQTT broker "
            r"127\.0\.0\.1:\d+ refused the connection: Not authorized \(reason code 135\)\. "
            r"Check mqtt\.username and mqtt\.password \(sent username 'pi-test'\)\."
        )):
            publisher.wait_connected(2.0)
        # Still alive and still trying, with results kept for later.
        seq = publisher.publish_result(example_result())
        assert _wait_until(lambda: publisher.stats()["connect_failures"] >= 3, 5)
        stats = publisher.stats()
        assert publisher.state is PublisherState.RECONNECTING
        assert stats["last_error_kind"] == "refused"
        assert stats["outbox"]["pending"] == 1 and seq == 1
        assert any(t.name.startswith("paho-mqtt-client-") for t in threading.enumerate())
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "refused the connection" in r.getMessage()]
    assert len(errors) == 1, "a repeated failure is logged once at error level, not at every retry"


def test_wrong_password_under_mqtt311_names_the_cause(make_broker, mqtt_config) -> None:
    broker = make_broker(users=USERS, acl=ACL)
    config = mqtt_config(broker, protocol="3.1.1", username="pi-test", password="wrong")
    message = r"refused the connection: Not authorized \(reason code 135\)"
    with MQTTPublisher(config) as publisher, pytest.raises(PublishError, match=message):
        publisher.wait_connected(2.0)


def test_tls_with_a_generated_ca_delivers(make_broker, recorder_for, mqtt_config, result_validator) -> None:
    broker = make_broker(tls=True)
    recorder = recorder_for(broker, ["edge_sdk/pi-test/events"], ca_file=str(broker.ca_file))
    config = mqtt_config(broker, tls={"ca_file": str(broker.ca_file)})
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)
        for i in range(10):
            publisher.publish_result(example_result(i))
        assert publisher.flush(5)
    assert recorder.wait_for(lambda m: len(m) == 10, 5)
    for message in recorder.messages:
        result_validator.validate(message.json())


def test_tls_client_certificate_is_presented(make_broker, mqtt_config) -> None:
    broker = make_broker(tls=True, require_client_cert=True)
    cert, key = broker.client_certificate("pi-test")
    config = mqtt_config(broker, tls={"ca_file": str(broker.ca_file), "cert_file": str(cert), "key_file": str(key)})
    with MQTTPublisher(config) as publisher:
        publisher.wait_connected(5)


@pytest.mark.parametrize("delivery", ["threads", "process"])
def test_a_broker_that_wants_a_client_certificate_and_gets_none_is_a_counted_logged_failure(
    make_broker, mqtt_config, caplog, capfd, delivery: str
) -> None:
    """TLS 1.3: the client's handshake succeeds, then the broker sends an alert ("peer did not return
    a certificate" in its log). That is a failed attempt too: counted, in last_error, logged."""
    broker = make_broker(tls=True, require_client_cert=True)
    config = mqtt_config(broker, tls={"ca_file": str(broker.ca_file)})
    publisher_class = PublisherProcess if delivery == "process" else MQTTPublisher
    with caplog.at_level(logging.WARNING), publisher_class(config) as publisher:
        with pytest.raises(PublishError, match="requires a client certificate and none is configured"):
            publisher.wait_connected(2.0)
        assert _wait_until(lambda: publisher.stats()["connect_failures"] >= 2, 5)
        stats = publisher.stats()
        assert publisher.state is PublisherState.RECONNECTING
    assert stats["last_error_kind"] == "tls"
    error = stats["last_error"]
    assert error.startswith(f"TLS with 127.0.0.1:{broker.port} failed: the broker ended the connection ("), error
    assert "certificate required" in error.lower()  # OpenSSL's alert, as paho saw it
    assert error.endswith("It requires a client certificate and none is configured: set mqtt.tls.cert_file and key_file")
    assert "peer did not return a certificate" in broker.log_text()
    # the delivery process logs to the run's stderr; threads log here
    logged = capfd.readouterr().err if delivery == "process" else "\n".join(
        f"{r.levelname} {r.getMessage()}" for r in caplog.records)
    assert re.search(r"(WARNING|ERROR) .*TLS with 127\.0\.0\.1:\d+ failed: .*requires a client certificate", logged), logged


def test_tls_with_the_wrong_ca_reports_verification_failure_and_retries(make_broker, mqtt_config, tmp_path) -> None:
    from edge_sdk.testing import make_ca

    broker = make_broker(tls=True)
    other_ca, _ = make_ca(tmp_path / "other-ca", "some other CA")
    with MQTTPublisher(mqtt_config(broker, tls={"ca_file": str(other_ca)})) as publisher:
        with pytest.raises(PublishError, match=(
            r"TLS handshake with 127\.0\.0\.1:\d+ failed: self.signed certificate in certificate chain\. "
            r"Expected a broker certificate signed by the CA in mqtt\.tls\.ca_file"
        )):
            publisher.wait_connected(2.0)
        assert _wait_until(lambda: publisher.stats()["connect_failures"] >= 2, 5)
        assert publisher.stats()["last_error_kind"] == "tls"


def test_missing_ca_file_is_a_config_error_at_start(broker, mqtt_config, tmp_path) -> None:
    publisher = MQTTPublisher(mqtt_config(broker, tls={"ca_file": str(tmp_path / "nope.pem")}))
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.ca_file: cannot load a PEM CA from '.*nope\.pem'"):
        publisher.start()
