"""The pseudo provider, outcome shaping (new_entry/result_for) and the result/cache codecs."""

from __future__ import annotations

import contextlib
import re
from dataclasses import FrozenInstanceError, replace
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linguaflow.errors import InvalidRequest
from linguaflow.schemas import (
    CacheEntry,
    TranslationRequest,
    TranslationResult,
    decode_cache_entry,
    decode_result,
    encode,
)
from linguaflow.settings import Settings
from linguaflow.streams.outcomes import new_entry, result_for
from linguaflow.streams.providers import create_provider, provider_names
from linguaflow.streams.providers.base import Translated, TranslationJob, answer
from linguaflow.streams.providers.pseudo import PseudoProvider, pseudo_localise

RELAXED = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)

# --- pseudo_localise -----------------------------------------------------------------------------


def test_pseudo_known_output() -> None:
    assert pseudo_localise("Hello", "de") == "[de| Ĥéļļö]"


@pytest.mark.parametrize(
    "token",
    ["{name}", "{{count}}", "%s", "%d", "%(user)s", "<b>", "</b>", '<a href="x">', "&amp;", "&#39;"],
)
def test_protected_tokens_are_kept_byte_for_byte(token: str) -> None:
    out = pseudo_localise(f"Hi {token} there", "fr")
    assert out == f"[fr| Ĥî {token} ţĥéŕé]"
    assert token.encode() in out.encode()


def test_a_mixed_ui_string() -> None:
    text = "Hello {name}, you have {{count}} new <b>messages</b> &amp; %(user)s sent %s"
    assert pseudo_localise(text, "de") == (
        "[de| Ĥéļļö {name}, ýöû ĥåvé {{count}} ñéŵ <b>méššåĝéš</b> &amp; %(user)s šéñţ %s]"
    )


def test_letters_are_accented_and_others_kept() -> None:
    out = pseudo_localise("abc XYZ 123 !?", "ja")
    assert out == "[ja| åbç XÝŽ 123 !?]"


def test_pseudo_is_deterministic() -> None:
    assert pseudo_localise("Same {x}", "de") == pseudo_localise("Same {x}", "de")


def test_target_language_is_in_the_wrapper() -> None:
    assert pseudo_localise("x", "pt-BR").startswith("[pt-BR| ")
    assert pseudo_localise("x", "pt-BR").endswith("]")


# An independent spelling of the documented placeholder forms (not the module's own regex).
SPEC_TOKEN = re.compile(
    r"\{\{\w+\}\}|\{\w+\}|%\(\w+\)[sdif]|%[sdif]|</?\w+(?:\s[^<>]*)?/?>"
    r"|&[A-Za-z0-9]+;|&#[0-9]+;|&#x[0-9A-Fa-f]+;"
)

tokens = st.sampled_from(
    ["{name}", "{{count}}", "{0}", "%s", "%d", "%(user)s", "<b>", "</b>", "<br/>", "&amp;", "&#39;"]
)
filler = st.text(alphabet="AaBbEeOoSsTtZz 0123,.!-", max_size=6)


@RELAXED
@given(parts=st.lists(st.tuples(filler, tokens), max_size=6), tail=filler, lang=st.sampled_from(["de", "fr"]))
def test_every_documented_token_survives(parts: list[tuple[str, str]], tail: str, lang: str) -> None:
    text = "".join(f + t for f, t in parts) + tail
    out = pseudo_localise(text, lang)
    assert out.startswith(f"[{lang}| ")
    assert out.endswith("]")
    inner = out[len(f"[{lang}| ") : -1]
    assert SPEC_TOKEN.findall(inner) == SPEC_TOKEN.findall(text)
    assert [t for _, t in parts] == SPEC_TOKEN.findall(text)


any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
# dense in the characters placeholders, tags and entities are made of, so tokens actually occur
token_soup = st.text(alphabet="{}%()<>&;#/ sdifabxAB0_\u00e9", max_size=40)


@RELAXED
@given(text=any_text | token_soup)
def test_every_protected_token_in_any_text_appears_in_the_output(text: str) -> None:
    out = pseudo_localise(text, "de")
    for token in SPEC_TOKEN.findall(text):
        assert token in out
    # one character in, one character out: truncation testing depends on it
    assert len(out) == len(text) + len("[de| ]")


@RELAXED
@given(text=any_text | token_soup)
def test_pseudo_only_changes_ascii_letters(text: str) -> None:
    inner = pseudo_localise(text, "de")[len("[de| ") : -1]
    for before, after in zip(text, inner, strict=True):
        assert before == after or (before.isascii() and before.isalpha())


# --- PseudoProvider ------------------------------------------------------------------------------


async def test_pseudo_provider_translates_one_per_job_in_order() -> None:
    provider = PseudoProvider()
    jobs = [
        TranslationJob("k1", "Hello", "en", "de"),
        TranslationJob("k2", "{n} items", "en", "fr"),
        TranslationJob("k3", "", "en", "de"),
    ]
    out = await provider.translate(jobs)
    assert out == [
        Translated("k1", "[de| Ĥéļļö]", 5, "pseudo", "pseudo/1", 0.0),
        Translated("k2", "[fr| {n} îţémš]", 9, "pseudo", "pseudo/1", 0.0),
        Translated("k3", "[de| ]", 0, "pseudo", "pseudo/1", 0.0),
    ]
    await provider.close()


def test_pseudo_provider_identity() -> None:
    provider = PseudoProvider()
    assert provider.name == "pseudo"
    assert provider.model_version == "pseudo/1"
    assert provider.cost_per_char == 0.0
    assert provider.limits.max_texts >= 1
    assert provider.limits.max_chars >= 1


def test_pseudo_is_registered() -> None:
    assert "pseudo" in provider_names()
    assert isinstance(create_provider("pseudo", Settings()), PseudoProvider)


# --- outcomes ------------------------------------------------------------------------------------

NOW = 1_700_000_000_500.25


def request(**fields: Any) -> TranslationRequest:
    base = TranslationRequest(
        request_id="req-1",
        text="Hello",
        target_lang="de",
        source_lang="en",
        tenant="acme",
        user="u-1",
        format="html",
        created_at=1_700_000_000_000,
    )
    return replace(base, **fields)


def entry_for(req: TranslationRequest, billed: int = 5, cost_per_char: float = 0.00002) -> CacheEntry:
    deepl = SimpleNamespace(name="deepl", model_version="deepl/v2", cost_per_char=cost_per_char)
    return new_entry(
        req, answer(deepl, TranslationJob("key-1", "Hello", "en", "de"), "Hallo", billed), now_ms=NOW
    )


def test_new_entry_fields() -> None:
    assert entry_for(request()) == CacheEntry(
        cache_key="key-1",
        translated_text="Hallo",
        source_lang="en",
        target_lang="de",
        provider="deepl",
        model="deepl/v2",
        billed_chars=5,
        cost=0.0001,
        version=1_700_000_000_500_250,
        tenant="acme",
        created_at=1_700_000_000_500,
        schema_version=1,
    )


def test_new_entry_records_the_glossary_version() -> None:
    assert entry_for(request(glossary="ui@3")).glossary == "ui@3"


@given(billed=st.integers(0, 100_000), per_char=st.floats(0, 0.01))
def test_the_answer_costs_billed_chars_times_price_and_the_entry_records_it(
    billed: int, per_char: float
) -> None:
    entry = entry_for(request(), billed, per_char)
    assert entry.cost == pytest.approx(billed * per_char, abs=1e-8)
    assert entry.billed_chars == billed


@given(now=st.floats(0, 10**13))
def test_entry_version_is_microseconds(now: float) -> None:
    entry = new_entry(request(), Translated("k", "t", 1, "p", "m", 0.0), now_ms=now)
    assert entry.version == int(now * 1000)
    assert entry.created_at == int(now)


def test_result_for_a_miss_is_billed() -> None:
    req = request()
    entry = entry_for(req)
    res = result_for(req, entry, cache_hit=False, coalesced=False, now_ms=NOW, traceparent="tp")
    assert res == TranslationResult(
        request_id="req-1",
        cache_key="key-1",
        tenant="acme",
        user="u-1",
        source_text="Hello",
        source_lang="en",
        target_lang="de",
        format="html",
        translated_text="Hallo",
        provider="deepl",
        model="deepl/v2",
        billed_chars=5,
        cost=0.0001,
        cache_hit=False,
        coalesced=False,
        latency_ms=500,
        version=entry.version,
        created_at=1_700_000_000_000,
        completed_at=1_700_000_000_500,
        traceparent="tp",
    )
    assert res.outcome == "miss"


@pytest.mark.parametrize(("hit", "coalesced", "outcome"), [(True, False, "hit"), (False, True, "coalesced")])
def test_hits_and_coalesced_cost_nothing(hit: bool, coalesced: bool, outcome: str) -> None:
    req = request(request_id="other", tenant="beta", user="u-2")
    entry = entry_for(request())
    res = result_for(req, entry, cache_hit=hit, coalesced=coalesced, now_ms=NOW, traceparent=None)
    assert (res.billed_chars, res.cost) == (0, 0.0)
    assert res.outcome == outcome
    # the request's own identity, the entry's translation
    assert (res.request_id, res.tenant, res.user) == ("other", "beta", "u-2")
    assert (res.translated_text, res.provider, res.version) == ("Hallo", "deepl", entry.version)


def test_latency_is_never_negative() -> None:
    req = request(created_at=2_000_000_000_000)  # a producer clock ahead of ours
    res = result_for(req, entry_for(req), cache_hit=False, coalesced=False, now_ms=NOW, traceparent=None)
    assert res.latency_ms == 0


@given(created=st.integers(0, 10**14 - 1), now=st.floats(0, 10**14))
def test_latency_is_now_minus_created_clamped_at_zero(created: int, now: float) -> None:
    req = request(created_at=created)
    res = result_for(req, entry_for(req), cache_hit=True, coalesced=False, now_ms=now, traceparent=None)
    assert res.latency_ms == max(0, int(now) - created)
    assert res.completed_at == int(now)


# --- codecs --------------------------------------------------------------------------------------


def test_result_round_trip() -> None:
    req = request()
    res = result_for(req, entry_for(req), cache_hit=False, coalesced=True, now_ms=NOW, traceparent="t")
    assert decode_result(encode(res)) == res


def test_cache_entry_round_trip() -> None:
    entry = entry_for(request())
    assert decode_cache_entry(encode(entry)) == entry


def test_decoded_events_are_frozen_and_hash_like_constructed_ones() -> None:
    req = request()
    res = result_for(req, entry_for(req), cache_hit=True, coalesced=False, now_ms=NOW, traceparent=None)
    decoded = decode_result(encode(res))
    assert hash(decoded) == hash(res)
    with pytest.raises(FrozenInstanceError):
        decoded.translated_text = "changed"  # type: ignore[misc]


def test_a_writer_that_omits_optional_fields_gets_their_defaults() -> None:
    req = request()
    res = result_for(req, entry_for(req), cache_hit=True, coalesced=False, now_ms=NOW, traceparent=None)
    data = orjson.loads(encode(res))
    del data["traceparent"]
    assert decode_result(orjson.dumps(data)) == res
    entry = orjson.loads(encode(entry_for(req)))
    del entry["glossary"]
    assert decode_cache_entry(orjson.dumps(entry)).glossary is None


def test_decoders_ignore_unknown_fields() -> None:
    entry = entry_for(request())
    data = orjson.loads(encode(entry)) | {"added_later": 1}
    assert decode_cache_entry(orjson.dumps(data)) == entry


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff", b"[]", b'"x"', b"null", b"42", b'{"schema_version": 1}'])
@pytest.mark.parametrize("decoder", [decode_result, decode_cache_entry])
def test_decoding_garbage_raises_invalid_request(raw: bytes, decoder: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        decoder(raw)
    assert info.value.reason in {"schema", "unsupported_schema_version"}


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_schema_version_is_unsupported(version: Any) -> None:
    entry = orjson.loads(encode(entry_for(request())))
    entry["schema_version"] = version
    with pytest.raises(InvalidRequest) as info:
        decode_cache_entry(orjson.dumps(entry))
    assert info.value.reason == "unsupported_schema_version"

    req = request()
    res = orjson.loads(
        encode(result_for(req, entry_for(req), cache_hit=True, coalesced=False, now_ms=NOW, traceparent=None))
    )
    res["schema_version"] = version
    with pytest.raises(InvalidRequest) as info:
        decode_result(orjson.dumps(res))
    assert info.value.reason == "unsupported_schema_version"


def test_missing_required_field_is_a_schema_error() -> None:
    data = orjson.loads(encode(entry_for(request())))
    del data["translated_text"]
    with pytest.raises(InvalidRequest) as info:
        decode_cache_entry(orjson.dumps(data))
    assert info.value.reason == "schema"
    assert "translated_text" in str(info.value)


@RELAXED
@given(raw=st.binary(max_size=100))
def test_decoders_only_raise_invalid_request(raw: bytes) -> None:
    for decoder in (decode_result, decode_cache_entry):
        with contextlib.suppress(InvalidRequest):
            decoder(raw)
