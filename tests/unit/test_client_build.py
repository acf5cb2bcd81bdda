"""The SDK's pure request building: request ids (ULIDs, idempotency keys) and validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.client.build import (
    ENTROPY_BYTES,
    build_request,
    idempotent_request_id,
    new_request_id,
    request_fields,
)
from linguaflow.errors import InvalidRequest
from linguaflow.schemas import TranslationRequest
from linguaflow.schemas.request import MAX_ID

NOW = 1_700_000_000_000
ZEROS = bytes(ENTROPY_BYTES)
CROCKFORD_INDEX = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}
CROCKFORD = set(CROCKFORD_INDEX)

times = st.integers(min_value=0, max_value=2**48 - 1)
entropies = st.binary(min_size=ENTROPY_BYTES, max_size=ENTROPY_BYTES)


def build(data: dict[str, object], idempotency_key: str | None = None) -> TranslationRequest:
    return build_request(data, max_text_chars=100, now_ms=NOW, entropy=ZEROS, idempotency_key=idempotency_key)


@given(times, entropies)
def test_ulid_is_26_crockford_characters_and_encodes_time_and_entropy(now_ms: int, entropy: bytes) -> None:
    request_id = new_request_id(now_ms, entropy)
    assert len(request_id) == 26
    assert set(request_id) <= CROCKFORD
    value = sum(CROCKFORD_INDEX[c] << (5 * i) for i, c in enumerate(reversed(request_id)))
    assert value >> 80 == now_ms
    assert value & (2**80 - 1) == int.from_bytes(entropy, "big")


@given(times, times, entropies, entropies)
def test_ulids_sort_by_time(t1: int, t2: int, e1: bytes, e2: bytes) -> None:
    if t1 < t2:
        assert new_request_id(t1, e1) < new_request_id(t2, e2)


@given(times, entropies, entropies)
def test_ulids_of_one_millisecond_differ_when_entropy_differs(now_ms: int, e1: bytes, e2: bytes) -> None:
    assert (new_request_id(now_ms, e1) == new_request_id(now_ms, e2)) == (e1 == e2)


def test_ulid_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="entropy"):
        new_request_id(NOW, b"short")
    with pytest.raises(ValueError, match="48-bit"):
        new_request_id(2**48, ZEROS)
    with pytest.raises(ValueError, match="48-bit"):
        new_request_id(-1, ZEROS)


@given(st.text(max_size=500), st.text(min_size=1, max_size=50))
def test_idempotency_key_gives_a_stable_valid_id_per_tenant(key: str, tenant: str) -> None:
    first = idempotent_request_id(key, tenant)
    assert first == idempotent_request_id(key, tenant)
    assert first.startswith("idem-")
    assert len(first) <= MAX_ID
    assert first.isascii()
    assert first.isprintable()
    assert idempotent_request_id(key, tenant + "x") != first


def test_idempotency_key_ids_are_pinned() -> None:
    # Producers rely on re-publishing with the same key giving the same id across releases.
    assert idempotent_request_id("product-1:title:de") == "idem-651de7e5de949fb758ec7fc3e6e05f5a"


def test_build_keeps_a_given_request_id_and_fills_defaults() -> None:
    request = build({"request_id": "mine", "text": "Hi", "target_lang": "pt-br"})
    assert request == TranslationRequest(
        request_id="mine", text="Hi", target_lang="pt-BR", created_at=NOW, source_lang="auto"
    )


def test_build_derives_the_id_from_the_idempotency_key_with_the_tenant() -> None:
    request = build({"text": "Hi", "target_lang": "de", "tenant": "acme"}, idempotency_key="k1")
    assert request.request_id == idempotent_request_id("k1", "acme")
    assert build({"text": "Hi", "target_lang": "de"}, idempotency_key="k1").request_id == (
        idempotent_request_id("k1", "default")
    )


def test_build_an_explicit_request_id_wins_over_the_idempotency_key() -> None:
    assert build(
        {"request_id": "mine", "text": "Hi", "target_lang": "de"}, idempotency_key="k"
    ).request_id == ("mine")


@pytest.mark.parametrize("missing", [None, ""])
def test_build_generates_a_ulid_when_no_id_is_given(missing: str | None) -> None:
    request = build({"request_id": missing, "text": "Hi", "target_lang": "de"})
    assert request.request_id == new_request_id(NOW, ZEROS)


def test_build_revalidates_a_dataclass_and_stamps_an_unset_created_at() -> None:
    request = build_request(
        TranslationRequest(request_id="r", text="a\r\nb", target_lang="DE"),
        max_text_chars=100,
        now_ms=NOW,
        entropy=ZEROS,
    )
    assert (request.text, request.target_lang, request.created_at) == ("a\nb", "de", NOW)
    with pytest.raises(InvalidRequest, match="format"):
        build_request(
            TranslationRequest(request_id="r", text="a", target_lang="de", format="pdf"),
            max_text_chars=100,
            now_ms=NOW,
            entropy=ZEROS,
        )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"text": "", "target_lang": "de"}, "text"),
        ({"text": "x" * 101, "target_lang": "de"}, "limit is 100"),
        ({"text": "Hi", "target_lang": "auto"}, "target_lang"),
        ({"text": "Hi", "target_lang": "de", "priority": 10}, "priority"),
        ({"text": "Hi", "target_lang": "de", "glossary": "no-version"}, "glossary"),
    ],
)
def test_build_rejects_what_the_schema_rejects(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem) as raised:
        build(fields)
    assert raised.value.reason == "schema"


def test_request_fields_maps_translate_arguments() -> None:
    fields = request_fields("Hi", "de", "en", request_id=None, extra={"provider": "pseudo", "priority": 1})
    request = build(fields)
    assert (request.text, request.target_lang, request.source_lang) == ("Hi", "de", "en")
    assert (request.provider, request.priority) == ("pseudo", 1)
