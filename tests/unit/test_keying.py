"""key_request, Origin headers and the DeadLetter header contract."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linguaflow.errors import InvalidRequest
from linguaflow.schemas import DeadLetter, cache_key, decode_request, header_map
from linguaflow.schemas.dlq import MAX_HEADER_VALUE
from linguaflow.streams.keying import KeyedRequest, Origin, dead_letter, key_request

NOW = 1_700_000_000_000
ORIGIN = Origin("translation.requests", 3, 41)


def model_version_for(hint: str | None) -> str:
    if hint in (None, "pseudo"):
        return "pseudo/1"
    raise InvalidRequest(f"provider {hint!r} is not configured on this worker", reason="unknown_provider")


def run(raw: bytes | None, **kwargs: Any) -> KeyedRequest | DeadLetter:
    return key_request(
        raw, ORIGIN, model_version_for=model_version_for, max_text_chars=100, now_ms=NOW, **kwargs
    )


def body(**fields: Any) -> bytes:
    data: dict[str, Any] = {"request_id": "req-1", "text": "Hello", "target_lang": "de"}
    data.update(fields)
    return orjson.dumps(data)


def test_valid_event_becomes_a_keyed_request() -> None:
    raw = body(source_lang="en")
    outcome = run(raw, traceparent="00-abc-def-01")
    assert isinstance(outcome, KeyedRequest)
    request = decode_request(raw, max_text_chars=100, now_ms=NOW)
    assert outcome.request == request
    assert outcome.cache_key == cache_key(request, "pseudo/1")
    assert outcome.origin == ORIGIN
    assert outcome.traceparent == "00-abc-def-01"
    assert outcome.request.created_at == NOW


def test_the_provider_hint_selects_the_model_version_hashed_into_the_key() -> None:
    auto = run(body())
    hinted = run(body(provider="pseudo"))
    assert isinstance(auto, KeyedRequest)
    assert isinstance(hinted, KeyedRequest)
    # same model version, but the hint itself is part of the key
    assert hinted.cache_key == cache_key(hinted.request, "pseudo/1")
    assert hinted.cache_key != auto.cache_key


def test_invalid_event_becomes_a_dead_letter_with_origin_and_request_id() -> None:
    outcome = run(body(target_lang="auto"))
    assert isinstance(outcome, DeadLetter)
    assert outcome == DeadLetter(
        reason="schema",
        error="target_lang: must be a concrete language, not 'auto'",
        origin_topic="translation.requests",
        origin_partition=3,
        origin_offset=41,
        first_failed_at=NOW,
        attempts=1,
        request_id="req-1",
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_utf8"),
        (None, "empty"),
        (b"[1, 2]", "schema"),
        (orjson.dumps({"text": "x", "target_lang": "de"}), "schema"),
    ],
)
def test_dead_letters_without_a_readable_request_id(raw: bytes | None, reason: str) -> None:
    outcome = run(raw)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == reason
    assert outcome.request_id is None
    assert (outcome.origin_topic, outcome.origin_partition, outcome.origin_offset) == (
        "translation.requests",
        3,
        41,
    )


def test_a_non_string_request_id_is_not_peeked() -> None:
    outcome = run(body(request_id=12))
    assert isinstance(outcome, DeadLetter)
    assert outcome.request_id is None
    assert "request_id" in outcome.error


def test_request_id_is_peeked_even_when_another_field_is_bad() -> None:
    outcome = run(body(request_id="keep-me", priority=99))
    assert isinstance(outcome, DeadLetter)
    assert outcome.request_id == "keep-me"
    assert "priority" in outcome.error


def test_unknown_provider_hint_is_dead_lettered() -> None:
    outcome = run(body(provider="deepl"))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "unknown_provider"
    assert "deepl" in outcome.error
    assert outcome.request_id == "req-1"


def test_unsupported_schema_version_reason_reaches_the_dead_letter() -> None:
    outcome = run(body(schema_version=2))
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "unsupported_schema_version"


def test_dead_letter_helper_carries_attempts() -> None:
    letter = dead_letter(ORIGIN, InvalidRequest("x", reason="r"), now_ms=5, request_id="id", attempts=4)
    assert (letter.reason, letter.error, letter.attempts, letter.first_failed_at) == ("r", "x", 4, 5)


# --- Origin --------------------------------------------------------------------------------------


def test_origin_header_format() -> None:
    assert Origin("translation.requests", 3, 41).header() == b"translation.requests:3:41"


def test_origin_with_colons_in_the_topic_round_trips() -> None:
    origin = Origin("a:b:c", 1, 2)
    assert Origin.parse(origin.header(), ORIGIN) == origin


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # Unicode tables on first use
@given(
    topic=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    partition=st.integers(0, 10_000),
    offset=st.integers(0, 2**63 - 1),
)
def test_origin_round_trips(topic: str, partition: int, offset: int) -> None:
    origin = Origin(topic, partition, offset)
    assert Origin.parse(origin.header(), ORIGIN) == origin


@pytest.mark.parametrize(
    "garbage",
    [None, b"", b"topic", b"topic:1", b"topic:x:1", b"topic:1:y", b"\xff\xfe:1:2", b"t:1.5:2"],
)
def test_origin_parse_falls_back_on_garbage(garbage: bytes | None) -> None:
    assert Origin.parse(garbage, ORIGIN) is ORIGIN


# --- DeadLetter headers --------------------------------------------------------------------------


def test_headers_names_and_values() -> None:
    letter = DeadLetter(
        reason="schema",
        error="text: is required",
        origin_topic="translation.requests",
        origin_partition=3,
        origin_offset=41,
        first_failed_at=NOW,
        attempts=2,
        request_id="req-1",
    )
    assert letter.headers() == [
        ("error", b"schema"),
        ("error_message", b"text: is required"),
        ("attempts", b"2"),
        ("origin_topic", b"translation.requests"),
        ("origin_partition", b"3"),
        ("origin_offset", b"41"),
        ("first_failed_at", str(NOW).encode()),
        ("request_id", b"req-1"),
    ]


def test_headers_without_request_id_omit_it() -> None:
    letter = DeadLetter("empty", "tombstone", "t", 0, 0, 1)
    assert [name for name, _ in letter.headers()] == [
        "error",
        "error_message",
        "attempts",
        "origin_topic",
        "origin_partition",
        "origin_offset",
        "first_failed_at",
    ]


def test_long_error_is_truncated() -> None:
    letter = DeadLetter("schema", "x" * (MAX_HEADER_VALUE * 3), "t", 0, 0, 1, request_id="r" * 5_000)
    headers = dict(letter.headers())
    assert headers["error_message"] == b"x" * MAX_HEADER_VALUE
    assert headers["request_id"] == b"r" * MAX_HEADER_VALUE
    assert letter.error == "x" * (MAX_HEADER_VALUE * 3)  # the record itself keeps the full text


def test_header_values_are_utf8_and_survive_lone_surrogates() -> None:
    letter = DeadLetter("schema", "caf\u00e9 \ud800", "t", 0, 0, 1)
    assert dict(letter.headers())["error_message"] == "caf\u00e9 ?".encode()


def test_header_map_round_trip() -> None:
    letter = DeadLetter("provider_failed", "caf\u00e9", "translation.requests", 1, 2, 3, 4, "id-\u00fc")
    assert header_map(letter.headers()) == {
        "error": "provider_failed",
        "error_message": "caf\u00e9",
        "attempts": "4",
        "origin_topic": "translation.requests",
        "origin_partition": "1",
        "origin_offset": "2",
        "first_failed_at": "3",
        "request_id": "id-\u00fc",
    }


def test_header_map_of_nothing_is_empty() -> None:
    assert header_map(None) == {}
    assert header_map([]) == {}


def test_header_map_replaces_invalid_utf8() -> None:
    assert header_map([("k", b"a\xffb")]) == {"k": "a\ufffdb"}


def test_only_a_well_formed_traceparent_is_kept() -> None:
    from linguaflow.streams.keying import parse_traceparent

    good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == good.decode()
    for bad in (None, b"", b"\xff\xfe\x00", b"00-zz-yy-01", good + b"\n", good.upper(), b"x" * 300):
        assert parse_traceparent(bad) is None
