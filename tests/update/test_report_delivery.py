"""Update reports refused while the broker is not connected go out later, in order (the boot report is
made before the connection is up; in CI it once never arrived)."""

from __future__ import annotations

import json

from edge_sdk.update.report import Reporter


def test_reports_refused_while_disconnected_are_sent_in_order_once_the_broker_takes_them() -> None:
    connected = False
    sent: list[str] = []

    def send(topic: str, payload: bytes) -> bool:
        if connected:
            sent.append(json.loads(payload)["step"])
        return connected

    reporter = Reporter("pi", send, lambda: ("seek", 1))
    reporter.step("boot", None, "seek", 1)
    reporter.step("announced", "u1", "seek", 2)
    assert sent == [] and reporter.unsent == 2 and reporter.stats()["reports_unsent"] == 2
    connected = True
    reporter.flush()
    reporter.step("document_verified", "u1", "seek", 2)
    assert sent == ["boot", "announced", "document_verified"] and reporter.unsent == 0
