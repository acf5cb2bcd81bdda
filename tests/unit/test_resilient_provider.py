"""ResilientProvider with scripted in-memory providers, a fake clock and a recording sleep: masking,
retries with Retry-After, fallback chains, circuit breakers, token buckets, routing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, replace

import pytest

from linguaflow.errors import ConfigError, InvalidRequest, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.breaker import BreakerConfig
from linguaflow.streams.providers.base import (
    PartialTranslation,
    ProviderLimits,
    Translated,
    TranslationJob,
    answer,
    translated_as,
    with_text,
)
from linguaflow.streams.providers.resilient import (
    ResilienceConfig,
    ResilientProvider,
    build_resilient,
    parse_chain,
    route,
)
from linguaflow.telemetry import Telemetry

Behaviour = Callable[[Sequence[TranslationJob]], list[str]]


def echo(batch: Sequence[TranslationJob]) -> list[str]:
    return [f"T:{j.text}" for j in batch]


def fail(exc: ProviderError) -> Behaviour:
    def behaviour(batch: Sequence[TranslationJob]) -> list[str]:
        raise exc

    return behaviour


class Scripted:
    """A Provider whose calls follow ``script`` (then ``echo``); it records what it was sent."""

    def __init__(self, name: str, *script: Behaviour, price: float = 0.001) -> None:
        self.name = name
        self.model_version = f"{name}/1"
        self.limits = ProviderLimits(max_texts=10, max_chars=1_000)
        self.cost_per_char = price
        self.script = list(script)
        self.sent: list[list[str]] = []
        self.closed = False

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        self.sent.append([j.text for j in batch])
        behaviour = self.script.pop(0) if self.script else echo
        return [answer(self, j, t, len(j.text)) for j, t in zip(batch, behaviour(batch), strict=False)]

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Env:
    def __init__(self, *providers: Scripted, routes: dict[str, tuple[str, ...]] | None = None, **cfg: object):
        self.clock = Clock()
        self.telemetry = Telemetry()
        self.slept: list[float] = []
        config = ResilienceConfig(
            **{  # type: ignore[arg-type]
                "attempts": 3,
                "backoff_ms": 100,
                "retry_after_max_s": 30,
                "breaker": BreakerConfig(window_ms=60_000, min_calls=2, error_rate=0.5, open_ms=10_000),
                "requests_per_s": {},
                "chars_per_s": {},
                **cfg,
            }
        )
        self.provider = ResilientProvider(
            providers,
            routes or {"*": tuple(p.name for p in providers)},
            config,
            telemetry=self.telemetry,
            clock=self.clock,
            sleep=self.sleep,
            rand=lambda: 1.0,
        )

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.now += seconds * 1000

    def stats(self) -> dict[str, int]:
        return self.telemetry.snapshot()


def job(key: str, text: str = "Hello {name}", **fields: str) -> TranslationJob:
    return TranslationJob(key, text, fields.pop("source", "en"), fields.pop("target", "de"), **fields)


async def test_providers_see_masked_text_and_results_are_unmasked_and_say_who_answered() -> None:
    deepl = Scripted("deepl", price=0.00002)
    env = Env(deepl)
    out = await env.provider.translate([job("a", "Hi {name} & <b>you</b>")])
    assert deepl.sent == [['Hi <x id="0"/> &amp; <x id="1"/>you<x id="2"/>']]
    assert out[0].text == "T:Hi {name} & <b>you</b>"
    assert (out[0].provider, out[0].model) == ("deepl", "deepl/1")
    assert out[0].billed_chars == len('Hi <x id="0"/> &amp; <x id="1"/>you<x id="2"/>')
    assert out[0].cost == pytest.approx(out[0].billed_chars * 0.00002)
    assert env.stats()["provider_calls.provider.deepl"] == 1


async def test_a_retriable_error_is_retried_honouring_retry_after() -> None:
    busy = ProviderError("429", reason="rate_limited", retriable=True, retry_after_s=7)
    deepl = Scripted("deepl", fail(busy))
    env = Env(deepl)
    out = await env.provider.translate([job("a")])
    assert out[0].provider == "deepl"
    assert env.slept == [7]  # Retry-After beats the 0.1 s backoff
    assert env.stats()["provider_retries.reason.rate_limited"] == 1
    assert env.provider.breaker_states()["deepl"] == "closed"


async def test_a_429_storm_does_not_open_the_breaker() -> None:
    busy = fail(ProviderError("429", reason="rate_limited", retriable=True, retry_after_s=1))
    deepl = Scripted("deepl", *[busy, busy, echo] * 3)
    env = Env(deepl)
    for key in "abc":
        assert (await env.provider.translate([job(key)]))[0].provider == "deepl"
    assert env.provider.breaker_states()["deepl"] == "closed"
    assert len(deepl.sent) == 9


async def test_a_retry_after_beyond_the_cap_falls_back_at_once() -> None:
    deepl = Scripted("deepl", fail(ProviderError("429", retriable=True, retry_after_s=3600)))
    google = Scripted("google")
    env = Env(deepl, google)
    out = await env.provider.translate([job("a")])
    assert out[0].provider == "google"
    assert env.slept == []
    assert env.stats()["provider_fallbacks.provider.google"] == 1


async def test_a_non_retriable_error_falls_back_without_retrying() -> None:
    deepl = Scripted("deepl", fail(ProviderError("quota exceeded", reason="quota_exceeded")))
    google = Scripted("google")
    env = Env(deepl, google)
    out = await env.provider.translate([job("a"), job("b", "Bye")])
    assert [o.provider for o in out] == ["google", "google"]
    assert len(deepl.sent) == 1


async def test_only_mangled_items_are_asked_again_then_fall_back() -> None:
    def mangle_b(batch: Sequence[TranslationJob]) -> list[str]:
        return [j.text if j.cache_key == "a" else "lost it" for j in batch]

    deepl = Scripted("deepl", mangle_b, mangle_b, mangle_b)
    google = Scripted("google")
    env = Env(deepl, google)
    out = await env.provider.translate([job("a"), job("b", "Bye {who}")])
    assert [(o.cache_key, o.provider, o.text) for o in out] == [
        ("a", "deepl", "Hello {name}"),
        ("b", "google", "T:Bye {who}"),
    ]
    assert [len(sent) for sent in deepl.sent] == [2, 1, 1]  # retried alone, then handed on
    assert env.stats()["provider_errors.reason.placeholder_mismatch"] == 3


async def test_when_every_provider_fails_the_error_names_each_of_them() -> None:
    deepl = Scripted("deepl", *[fail(ProviderError("HTTP 503", reason="http_503", retriable=True))] * 3)
    google = Scripted("google", fail(ProviderError("HTTP 403 quota", reason="quota_exceeded")))
    env = Env(deepl, google)
    with pytest.raises(ProviderError) as caught:
        await env.provider.translate([job("a")])
    assert not caught.value.retriable
    message = str(caught.value)
    assert "deepl: circuit_open (after http_503: HTTP 503)" in message  # opened by its own failures
    assert "google: quota_exceeded" in message
    assert env.stats()["all_providers_failing"] == 1
    assert len(env.slept) == 2  # deepl: three attempts, two backoffs


async def test_some_done_and_some_failed_is_a_partial_translation() -> None:
    def mangle_b(batch: Sequence[TranslationJob]) -> list[str]:
        return [j.text if j.cache_key == "a" else "" for j in batch]

    env = Env(Scripted("llm", mangle_b, mangle_b, mangle_b))
    with pytest.raises(PartialTranslation) as caught:
        await env.provider.translate([job("a"), job("b")])
    assert [t.cache_key for t in caught.value.done] == ["a"]
    assert "placeholder_mismatch" in str(caught.value)


async def test_a_wrong_number_of_translations_is_a_retriable_bad_response() -> None:
    deepl = Scripted("deepl", lambda batch: [])
    env = Env(deepl)
    out = await env.provider.translate([job("a")])
    assert out[0].provider == "deepl"
    assert env.stats()["provider_retries.reason.provider_bad_response"] == 1


async def test_the_breaker_opens_and_the_chain_skips_the_provider_until_the_probe() -> None:
    down = ProviderError("HTTP 500", reason="http_500", retriable=False)
    deepl = Scripted("deepl", fail(down), fail(down))
    google = Scripted("google")
    env = Env(deepl, google)
    await env.provider.translate([job("a")])
    await env.provider.translate([job("b")])
    assert env.stats()["breaker_opened.provider.deepl"] == 1
    assert env.provider.breaker_states() == {"deepl": "open", "google": "closed"}

    await env.provider.translate([job("c")])
    assert len(deepl.sent) == 2  # skipped while open
    assert env.stats()["provider_skipped.reason.circuit_open"] == 1

    env.clock.now += 10_000  # open_ms later: one probe, it succeeds, the breaker closes
    out = await env.provider.translate([job("d")])
    assert out[0].provider == "deepl"
    assert env.provider.breaker_states()["deepl"] == "closed"


async def test_token_buckets_pace_calls_per_provider() -> None:
    deepl = Scripted("deepl")
    env = Env(deepl, requests_per_s={"deepl": 2}, chars_per_s={"deepl": 100})
    for key in "abc":
        await env.provider.translate([job(key)])
    assert env.slept == [pytest.approx(0.5)]  # the third request in the same instant waits
    env = Env(deepl, chars_per_s={"deepl": 100})  # a burst of one second's worth
    await env.provider.translate([job("long", "x" * 400)])
    assert env.slept == [pytest.approx(3.0)]


async def test_routes_pick_the_chain_per_language_pair_and_hints_pick_one_provider() -> None:
    deepl, llm = Scripted("deepl"), Scripted("llm")
    env = Env(deepl, llm, routes={"*": ("deepl", "llm"), "en:ja": ("llm",)})
    assert (await env.provider.translate([job("a", target="ja")]))[0].provider == "llm"
    assert (await env.provider.translate([job("b", target="fr")]))[0].provider == "deepl"
    assert (await env.provider.translate([job("c", provider="llm")]))[0].provider == "llm"
    assert env.provider.model_version_for("llm") == "llm/1"
    assert env.provider.model_version_for(None) == "deepl/1+llm/1"
    with pytest.raises(InvalidRequest) as caught:
        env.provider.model_version_for("bing")
    assert caught.value.reason == "unknown_provider"
    await env.provider.close()
    assert deepl.closed
    assert llm.closed


def test_route_precedence_and_chain_parsing() -> None:
    routes = {"*": ("a",), "*:ja": ("b",), "en:*": ("c",), "en:ja": ("d",)}
    assert route(routes, "en", "ja") == ("d",)
    assert route(routes, "fr", "ja") == ("b",)
    assert route(routes, "en", "de") == ("c",)
    assert route(routes, "auto", "de") == ("a",)
    assert parse_chain(" deepl > google>openai ") == ("deepl", "google", "openai")
    for bad in ("", "deepl>deepl", ">"):
        with pytest.raises(ConfigError):
            parse_chain(bad)


def test_build_from_settings_keeps_the_pseudo_key_space() -> None:
    provider = build_resilient(Settings(), telemetry=Telemetry(), clock=lambda: 0.0)
    assert provider.name == "pseudo"
    assert provider.model_version == "pseudo/1"  # cache keys of the foundation stay valid
    with pytest.raises(ConfigError):
        build_resilient(Settings(provider="pseudo>nope"), telemetry=Telemetry(), clock=lambda: 0.0)


def test_batches_honour_the_operators_cap_under_the_providers_own_limits() -> None:
    assert Env(Scripted("a")).provider.limits.max_texts == 10  # the provider's own limit
    assert Env(Scripted("a"), batch_max=4).provider.limits.max_texts == 4
    assert Env(Scripted("a"), batch_max=50).provider.limits.max_texts == 10


def test_with_text_and_translated_as_are_replace_for_every_field() -> None:
    job = TranslationJob(*(f"value-{f.name}" for f in fields(TranslationJob)))
    assert with_text(job, "other") == replace(job, text="other")
    assert with_text(job, job.text) is job
    out = Translated("key", "text", 7, "deepl", "deepl/1", 0.25)
    assert translated_as(out, "other") == replace(out, text="other")
    assert translated_as(out, "text") is out
