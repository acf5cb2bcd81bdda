"""decode_request / encode_request: the producer-facing request contract."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from linguaflow.errors import InvalidRequest
from linguaflow.schemas import (
    TranslationRequest,
    _fields,
    decode_request,
    decode_validated_request,
    encode_request,
    normalise_text,
)

# Full-Unicode strategies build Hypothesis' character tables on first use (about a second on a
# fresh checkout without .hypothesis/): that is generation cost, not a slow test.
RELAXED = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)

MAX_CHARS = 100
NOW = 1_700_000_000_000


def decode(data: Any) -> TranslationRequest:
    return decode_request(orjson.dumps(data), max_text_chars=MAX_CHARS, now_ms=NOW)


def minimal(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"request_id": "req-1", "text": "Hello", "target_lang": "de"}
    data.update(fields)
    return data


def test_valid_full_request() -> None:
    request = decode(
        {
            "schema_version": 1,
            "request_id": "req-42",
            "text": "Hello {name}",
            "source_lang": "en",
            "target_lang": "fr",
            "tenant": "acme",
            "user": "u-7",
            "format": "icu",
            "glossary": "shop@3",
            "formality": "prefer_less",
            "context": "greeting on the home page",
            "provider": "pseudo",
            "priority": 2,
            "created_at": 1_699_999_999_000,
        }
    )
    assert request == TranslationRequest(
        request_id="req-42",
        text="Hello {name}",
        target_lang="fr",
        source_lang="en",
        tenant="acme",
        user="u-7",
        format="icu",
        glossary="shop@3",
        formality="prefer_less",
        context="greeting on the home page",
        provider="pseudo",
        priority=2,
        created_at=1_699_999_999_000,
        schema_version=1,
    )


def test_defaults() -> None:
    request = decode(minimal())
    assert request == TranslationRequest(
        request_id="req-1",
        text="Hello",
        target_lang="de",
        source_lang="auto",
        tenant="default",
        user="",
        format="text",
        glossary=None,
        formality="default",
        context=None,
        provider=None,
        priority=5,
        created_at=NOW,
        schema_version=1,
    )


def test_explicit_nulls_take_defaults() -> None:
    request = decode(minimal(tenant=None, format=None, priority=None, created_at=None, glossary=None))
    assert (request.tenant, request.format, request.priority, request.created_at, request.glossary) == (
        "default",
        "text",
        5,
        NOW,
        None,
    )


def test_unknown_fields_are_tolerated() -> None:
    request = decode(minimal(new_field_from_the_future={"x": [1, 2]}, another=3))
    assert request == decode(minimal())


def test_text_whitespace_is_kept_and_line_endings_normalised() -> None:
    request = decode(minimal(text="  a\r\nb  "))
    assert request.text == "  a\nb  "


def test_text_is_nfc_normalised() -> None:
    assert decode(minimal(text="Cafe\u0301")).text == "Caf\u00e9"


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.123+00:00", 1_700_000_000_123),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000_000),
        (1_700_000_000_456, 1_700_000_000_456),
        (0, 0),
    ],
)
def test_created_at_iso_and_epoch_ms(created_at: Any, expected: int) -> None:
    assert decode(minimal(created_at=created_at)).created_at == expected


@pytest.mark.parametrize(
    ("given_lang", "expected"),
    [
        ("pt-br", "pt-BR"),
        ("PT-BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("ZH-HANT-TW", "zh-Hant-TW"),
        ("De", "de"),
        ("es-419", "es-419"),
    ],
)
def test_target_language_canonicalisation(given_lang: str, expected: str) -> None:
    assert decode(minimal(target_lang=given_lang)).target_lang == expected


@pytest.mark.parametrize("auto", ["auto", "AUTO", "Auto"])
def test_source_auto_is_canonicalised(auto: str) -> None:
    assert decode(minimal(source_lang=auto)).source_lang == "auto"


def test_source_language_canonicalisation() -> None:
    assert decode(minimal(source_lang="pt-br")).source_lang == "pt-BR"


def test_languages_seen_before_come_out_the_same_and_their_memory_stays_bounded() -> None:
    for _ in range(2):  # the second round is answered from what the first one remembered
        assert decode(minimal(source_lang="pt-br", target_lang="ZH-HANT-TW")).target_lang == "zh-Hant-TW"
        assert decode(minimal(source_lang="pt-br")).source_lang == "pt-BR"
    with pytest.raises(InvalidRequest):  # 'auto' is never remembered as a concrete code
        decode(minimal(target_lang="auto"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    invented = [a + b + c for a in letters[:8] for b in letters for c in letters]  # 5,408 codes
    for code in invented:
        assert decode(minimal(target_lang=code.upper())).target_lang == code
    assert len(_fields._CANONICAL) <= _fields._CANONICAL_MAX < len(invented)


# (id, raw bytes or None, expected reason, a word the message must contain)
BAD_RAW = [
    ("truncated-json", b"{", "invalid_json", "JSON"),
    ("invalid-utf8", b"\xff\xfe", "invalid_utf8", "UTF-8"),
    ("tombstone", None, "empty", "no value"),
]


@pytest.mark.parametrize(
    ("raw", "reason", "word"), [pytest.param(r, why, w, id=i) for i, r, why, w in BAD_RAW]
)
def test_bad_bytes(raw: bytes | None, reason: str, word: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode_request(raw, max_text_chars=MAX_CHARS, now_ms=NOW)
    assert info.value.reason == reason
    assert word in str(info.value)


def without(field: str) -> dict[str, Any]:
    data = minimal()
    del data[field]
    return data


# (id, decoded JSON value, expected reason, the field the message must name)
BAD_SCHEMA: list[tuple[str, Any, str, str]] = [
    ("json-array", [1, 2], "schema", "JSON object"),
    ("json-string", "hello", "schema", "JSON object"),
    ("json-null", None, "schema", "JSON object"),
    ("missing-request-id", without("request_id"), "schema", "request_id"),
    ("missing-text", without("text"), "schema", "text"),
    ("missing-target", without("target_lang"), "schema", "target_lang"),
    ("empty-text", minimal(text=""), "schema", "text"),
    ("whitespace-text", minimal(text=" \n\t "), "schema", "text"),
    ("text-over-limit", minimal(text="x" * (MAX_CHARS + 1)), "schema", "text"),
    ("text-not-string", minimal(text=5), "schema", "text"),
    ("request-id-int", minimal(request_id=7), "schema", "request_id"),
    ("request-id-empty", minimal(request_id=""), "schema", "request_id"),
    ("target-list", minimal(target_lang=["de"]), "schema", "target_lang"),
    ("tenant-int", minimal(tenant=3), "schema", "tenant"),
    ("context-dict", minimal(context={"a": 1}), "schema", "context"),
    ("target-auto", minimal(target_lang="auto"), "schema", "target_lang"),
    ("target-bad-code", minimal(target_lang="german"), "schema", "target_lang"),
    ("target-underscore", minimal(target_lang="pt_BR"), "schema", "target_lang"),
    ("source-bad-code", minimal(source_lang="e"), "schema", "source_lang"),
    ("format-bad", minimal(format="markdown"), "schema", "format"),
    ("formality-bad", minimal(formality="casual"), "schema", "formality"),
    ("glossary-no-at", minimal(glossary="shop3"), "schema", "glossary"),
    ("priority-high", minimal(priority=10), "schema", "priority"),
    ("priority-negative", minimal(priority=-1), "schema", "priority"),
    ("priority-bool", minimal(priority=True), "schema", "priority"),
    ("priority-string", minimal(priority="5"), "schema", "priority"),
    ("priority-float", minimal(priority=2.5), "schema", "priority"),
    ("request-id-nul", minimal(request_id="a\x00b"), "schema", "request_id"),
    ("request-id-escape", minimal(request_id="a\x1bb"), "schema", "request_id"),
    ("request-id-del", minimal(request_id="a\x7fb"), "schema", "request_id"),
    ("tenant-control", minimal(tenant="t\x01"), "schema", "tenant"),
    ("created-naive-iso", minimal(created_at="2023-11-14T22:13:20"), "schema", "created_at"),
    ("created-not-iso", minimal(created_at="yesterday"), "schema", "created_at"),
    ("created-negative", minimal(created_at=-1), "schema", "created_at"),
    ("created-bool", minimal(created_at=True), "schema", "created_at"),
    ("created-list", minimal(created_at=[1]), "schema", "created_at"),
    ("refresh-string", minimal(refresh="yes"), "schema", "refresh"),
    ("refresh-int", minimal(refresh=1), "schema", "refresh"),
    ("version-2", minimal(schema_version=2), "unsupported_schema_version", "schema_version"),
    ("version-string", minimal(schema_version="1"), "unsupported_schema_version", "schema_version"),
    ("version-bool", minimal(schema_version=True), "unsupported_schema_version", "schema_version"),
    ("version-0", minimal(schema_version=0), "unsupported_schema_version", "schema_version"),
]


@pytest.mark.parametrize(
    ("data", "reason", "field"), [pytest.param(d, r, f, id=i) for i, d, r, f in BAD_SCHEMA]
)
def test_bad_requests_name_the_field(data: Any, reason: str, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode(data)
    assert info.value.reason == reason
    assert field in str(info.value)
    assert info.value.retriable is False


def test_text_exactly_at_the_limit_is_accepted() -> None:
    assert decode(minimal(text="x" * MAX_CHARS)).text == "x" * MAX_CHARS


# An identifier is "printable, no control characters": a request_id with a newline would end up in
# DLQ headers and logs.
@pytest.mark.parametrize("control", ["\n", "\r", "\t"])
def test_request_id_with_line_control_characters_is_rejected(control: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode(minimal(request_id=f"req{control}1"))
    assert info.value.reason == "schema"
    assert "request_id" in str(info.value)


# A language pattern ending in `$` would also match before a trailing newline and accept "de\n"
# (a different cache key and a bad code for the provider).
@pytest.mark.parametrize(("field", "value"), [("target_lang", "de\n"), ("source_lang", "pt-br\n")])
def test_language_with_trailing_newline_is_rejected(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode(minimal(**{field: value}))
    assert info.value.reason == "schema"
    assert field in str(info.value)


# ISO strings get the same range check as numbers (0 <= ms < 10**14): a timestamp before 1970
# must not become a negative created_at.
def test_iso_created_at_before_the_epoch_is_rejected_like_a_negative_number() -> None:
    with pytest.raises(InvalidRequest) as info:
        decode(minimal(created_at="1969-12-31T23:59:59Z"))
    assert info.value.reason == "schema"
    assert "created_at" in str(info.value)


@RELAXED
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_invalid_request(raw: bytes) -> None:
    reason = "ok"
    try:
        decode_request(raw, max_text_chars=MAX_CHARS, now_ms=NOW)
    except InvalidRequest as exc:
        reason = exc.reason
    assert reason in {"ok", "invalid_json", "invalid_utf8", "schema", "unsupported_schema_version"}


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "schema_version",
        "request_id",
        "text",
        "source_lang",
        "target_lang",
        "tenant",
        "user",
        "format",
        "glossary",
        "formality",
        "context",
        "provider",
        "priority",
        "created_at",
        "refresh",
    ]
)


@RELAXED
@given(overrides=st.dictionaries(field_names, json_values, max_size=6))
def test_arbitrary_field_values_only_ever_raise_invalid_request(overrides: dict[str, Any]) -> None:
    reason = "ok"
    try:
        decode(minimal(**overrides))
    except InvalidRequest as exc:
        reason = exc.reason
    assert reason in {"ok", "schema", "unsupported_schema_version"}


def test_encode_then_decode_round_trips_a_full_request() -> None:
    request = decode(
        minimal(
            text="Ünïcode\nline",
            source_lang="en",
            target_lang="pt-br",
            tenant="acme",
            user="u-1",
            format="html",
            glossary="g@2",
            formality="less",
            context="ctx",
            provider="pseudo",
            priority=0,
            created_at=123,
            refresh=True,
        )
    )
    assert request.refresh is True
    assert decode_request(encode_request(request), max_text_chars=MAX_CHARS, now_ms=0) == request


def test_encode_then_decode_round_trips_a_request_without_user() -> None:
    """Regression (fixed in aa9489e): a request without ``user`` encodes ``"user": ""``; decoding
    that must give the same request, because the rekey agent publishes encode_request(...) to the
    keyed topic and the dedup agent decodes it again."""
    request = decode(minimal())
    assert request.user == ""
    assert decode_request(encode_request(request), max_text_chars=MAX_CHARS, now_ms=0) == request


@pytest.mark.parametrize(("field", "expected"), [("user", ""), ("tenant", "default")])
def test_empty_optional_ids_take_their_defaults(field: str, expected: str) -> None:
    assert getattr(decode(minimal(**{field: ""})), field) == expected


def test_text_limit_applies_to_the_normalised_text() -> None:
    """U+0958 becomes two code points under NFC. The limit holds for the normalised text, so the
    rekey stage rejects what the dedup stage would reject after re-encoding, and what it accepts
    round-trips."""
    with pytest.raises(InvalidRequest, match="text: is 200 characters, the limit is 100"):
        decode(minimal(text="\u0958" * MAX_CHARS))
    request = decode(minimal(text="\u0958" * (MAX_CHARS // 2), user="u"))
    assert len(request.text) == MAX_CHARS
    assert decode_request(encode_request(request), max_text_chars=MAX_CHARS, now_ms=0) == request


@RELAXED
@example(text="a\r\r\nb")
@given(
    text=st.lists(st.sampled_from(["\r", "\n", "a", " ", "\u00e9", "e\u0301", "\u0958"]), max_size=8).map(
        "".join
    )
)
def test_normalise_text_is_idempotent(text: str) -> None:
    r"""Normalising twice changes nothing ("\r\r\n" once took two passes to become "\n\n"): the
    rekey stage keys the normalised text and the dedup stage normalises the re-encoded request
    again, so a second pass must not change the text the provider sees."""
    once = normalise_text(text)
    assert normalise_text(once) == once


safe_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.:", min_size=1, max_size=30)


@RELAXED
@given(
    fields=st.fixed_dictionaries(
        {
            "request_id": safe_ids,
            "user": safe_ids,
            "tenant": safe_ids,
            # "\r" is left out here; test_normalise_text_is_idempotent covers it on its own.
            "text": st.text(
                alphabet=st.characters(codec="utf-8", blacklist_characters="\r").filter(
                    lambda c: c in "\t\n" or not (c < " " or c == "\x7f")
                ),
                min_size=1,
                max_size=40,
            ).filter(lambda s: s.strip() != ""),
            "target_lang": st.sampled_from(["de", "pt-br", "zh-hant-tw", "FR"]),
            "source_lang": st.sampled_from(["auto", "en", "EN-gb"]),
            "format": st.sampled_from(["text", "html", "icu"]),
            "glossary": st.none() | st.just("g@1"),
            "context": st.none() | st.text(alphabet="abc ", max_size=10),
            "priority": st.integers(0, 9),
            "created_at": st.integers(0, 10**14 - 1),
        }
    )
)
def test_round_trip_property(fields: dict[str, Any]) -> None:
    request = decode(minimal(**fields))
    assert decode_request(encode_request(request), max_text_chars=MAX_CHARS, now_ms=0) == request
    assert decode_validated_request(encode_request(request), max_text_chars=MAX_CHARS, now_ms=0) == request


def validated(data: Any) -> TranslationRequest:
    return decode_validated_request(orjson.dumps(data), max_text_chars=MAX_CHARS, now_ms=NOW)


def test_validated_decode_takes_a_validated_record_as_it_is() -> None:
    request = decode(minimal(source_lang="en", glossary="g@1", priority=2))
    raw = encode_request(request)
    assert decode_validated_request(raw, max_text_chars=MAX_CHARS, now_ms=NOW) == request


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"priority": "2"}, "schema"),  # wrong type: validated again, refused with the reason
        ({"text": 5}, "schema"),
        ({"glossary": 7}, "schema"),
        ({"schema_version": 99}, "unsupported_schema_version"),
    ],
)
def test_validated_decode_validates_anything_else_in_full(change: dict[str, Any], reason: str) -> None:
    data = encode_request(decode(minimal()))
    with pytest.raises(InvalidRequest) as info:
        validated({**orjson.loads(data), **change})
    assert info.value.reason == reason


def test_validated_decode_of_unknown_fields_or_bad_bytes_falls_back_to_validation() -> None:
    data = {**orjson.loads(encode_request(decode(minimal()))), "added_later": 1, "target_lang": "pt-br"}
    assert validated(data).target_lang == "pt-BR"  # the full path ran: canonical casing
    with pytest.raises(InvalidRequest) as info:
        decode_validated_request(b"{nope", max_text_chars=MAX_CHARS, now_ms=NOW)
    assert info.value.reason == "invalid_json"


@pytest.mark.parametrize("field", ["text", "context"])
@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f", "\x0c"])
def test_control_characters_in_free_text_are_refused(field: str, control: str) -> None:
    # PostgreSQL text cannot hold NUL: letting it through would poison the sink.
    with pytest.raises(InvalidRequest, match=f"{field}: contains control characters"):
        decode(minimal(**{field: f"Hello{control}world"}))


def test_tabs_and_line_breaks_are_text() -> None:
    assert decode(minimal(text="a\tb\nc\r\nd", context="x\ty")).text == "a\tb\nc\nd"


# Printable ASCII ids take a shortcut; the rest still get the full check.
@pytest.mark.parametrize("value", ["r\x7f1", "r\x001", "r\x1b1", "x" * 201])
def test_request_id_shortcut_does_not_let_bad_ids_through(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode(minimal(request_id=value))
    assert "request_id" in str(info.value)


@pytest.mark.parametrize("value", ["x" * 200, "ünïcode-id", "a b"])
def test_printable_ids_up_to_the_limit_are_accepted(value: str) -> None:
    assert decode(minimal(request_id=value, user=value)).user == value
