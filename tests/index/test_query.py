"""Search queries and answers: parsing, error replies with the request id, payloads valid against their schemas."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from edge_sdk.errors import InputError
from edge_sdk.index import Index, SearchService, parse_duration_s
from edge_sdk.index.query import parse_query

DIM = 8


def schema(name: str) -> jsonschema.protocols.Validator:
    document = json.loads(resources.files("edge_sdk").joinpath("schemas", name).read_text())
    cls = jsonschema.validators.validator_for(document)
    cls.check_schema(document)
    return cls(document)


QUERY, RESULT = schema("search-query-1.json"), schema("search-result-1.json")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400), ("2d", 172800), (30, 30),
                                               ("45", 45)])
def test_durations_read_as_seconds(text: str | int, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("bad", ["ten minutes", "-5m", "0", 0, True, "5w"])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(InputError, match="since: expected a"):
        parse_duration_s(bad)  # type: ignore[arg-type]


GOOD = [{"request_id": "q1", "text": "a red circle on the left"},
        {"schema": "edge_sdk.search-query/1", "request_id": "q2", "text": "a blue square", "k": 10, "since": "10m",
         "thumbnails": False},
        {"request_id": "q3", "vector": [0.5] * DIM, "since": 60}]
BAD = [({"text": "a red circle"}, "request_id: expected a string"),
       ({"request_id": "q", "text": "x", "vector": [1.0]}, "exactly one of text"),
       ({"request_id": "q"}, "exactly one of text"),
       ({"request_id": "q", "text": "   "}, "text: expected a non-empty description"),
       ({"request_id": "q", "text": "x", "k": 0}, "k: expected a whole number from 1 to 100. Got: 0"),
       ({"request_id": "q", "text": "x", "k": "5"}, "k: expected a whole number"),
       ({"request_id": "q", "text": "x", "since": "soon"}, "since: expected a duration"),
       ({"request_id": "q", "text": "x", "colour": "red"}, "unknown key 'colour'"),
       ({"request_id": "q", "vector": ["a"]}, "vector: expected a non-empty list of numbers"),
       (["not", "an", "object"], "expected a JSON object")]


@pytest.mark.parametrize("query", GOOD)
def test_good_queries_parse_and_fit_the_schema(query: dict[str, Any]) -> None:
    QUERY.validate(query)
    parsed = parse_query(query)
    assert parsed.request_id == query["request_id"]


@pytest.mark.parametrize(("query", "message"), BAD)
def test_bad_queries_are_refused_by_the_parser_and_the_schema(query: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_query(query)
    assert not QUERY.is_valid(query)


@pytest.fixture
def service(tmp_path: Path) -> tuple[SearchService, list[tuple[str, bytes, int]]]:
    import cv2

    ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    index = Index(tmp_path / "ix", dim=DIM)
    rng = np.random.default_rng(0)
    for i in range(12):
        index.add(1e9 + i, rng.standard_normal(DIM), bytes(jpeg) if i % 3 else None)
    sent: list[tuple[str, bytes, int]] = []
    yield SearchService(index, device="pi-1", base_topic="edge_sdk/pi-1",
                        publish=lambda topic, payload, qos: sent.append((topic, payload, qos))), sent
    index.close()


def test_a_query_is_answered_with_thumbnails_first_then_the_result(service: Any) -> None:
    search, sent = service
    search.handle_text(json.dumps({"request_id": "abc", "vector": [1.0] * DIM, "k": 4}))
    topics = [topic for topic, _, _ in sent]
    assert topics[-1] == "edge_sdk/pi-1/search/result"
    reply = json.loads(sent[-1][1])
    RESULT.validate(reply)
    assert reply["ok"] and reply["request_id"] == "abc" and len(reply["hits"]) == 4
    assert [h["rank"] for h in reply["hits"]] == [1, 2, 3, 4]
    with_thumbs = [h for h in reply["hits"] if h["thumbnail_topic"]]
    assert topics[:-1] == [h["thumbnail_topic"] for h in with_thumbs]
    assert all(payload[:2] == b"\xff\xd8" and qos == 1 for _, payload, qos in sent[:-1])
    assert all(h["thumbnail_topic"] == f"edge_sdk/pi-1/search/thumbnail/{h['frame_id']}" for h in with_thumbs)


@pytest.mark.parametrize(("payload", "request_id", "message"), [
    ("{not json", None, "expected a JSON object. Got: not JSON"),
    (json.dumps({"request_id": "r9", "text": "x", "k": 1000}), "r9", "k: expected a whole number from 1 to 100"),
    (json.dumps({"request_id": "r10", "text": "a red circle"}), "r10", "needs the bundle's text embedding"),
    (json.dumps({"request_id": "r11", "vector": [1.0, 2.0]}), "r11", "expected 8 values"),
])
def test_a_malformed_query_gets_an_error_reply_with_its_request_id(service: Any, payload: str, request_id: str | None,
                                                                   message: str) -> None:
    search, sent = service
    search.handle_text(payload)
    assert len(sent) == 1
    reply = json.loads(sent[0][1])
    RESULT.validate(reply)
    assert reply["ok"] is False and reply["request_id"] == request_id and message in reply["error"]
    search.handle_text(json.dumps({"request_id": "after", "vector": [1.0] * DIM, "thumbnails": False}))
    assert json.loads(sent[-1][1])["ok"] is True  # the service goes on
    assert search.counts == {"answered": 1, "errors": 1}
