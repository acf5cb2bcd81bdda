"""What every HTTP provider must do with what a real API can answer, run against each fake:
success in the real format, 429 with Retry-After, 5xx, a hang, garbage, a truncated body, the
wrong number of translations, and never an API key in an error message."""

from __future__ import annotations

import pytest

from linguaflow.errors import ProviderError
from linguaflow.streams.breaker import BreakerConfig
from linguaflow.streams.providers.pseudo import PseudoProvider
from linguaflow.streams.providers.resilient import ResilienceConfig, ResilientProvider
from linguaflow.telemetry import Telemetry
from testbed.fakes.server import GARBAGE, HANG, MANGLE, TRUNCATED, WRONG_COUNT, FakeApi, Reply, status
from tests.adapters.conftest import SECRET, jobs, make, provider_settings

Api = tuple[str, FakeApi]


async def test_success_in_the_real_wire_format(api: Api) -> None:
    name, fake = api
    provider = make(name, fake)
    try:
        out = await provider.translate(jobs("Hello", 'Good <x id="0"/> bye'))
    finally:
        await provider.close()
    assert [t.text.lower() for t in out] == ["[de] hello", '[de] good <x id="0"/> bye']  # DeepL says DE
    assert {(t.provider, t.model) for t in out} == {(name, provider.model_version)}
    assert [t.cache_key for t in out] == ["k0", "k1"]
    assert all(t.billed_chars > 0 for t in out)
    assert fake.calls == 1


async def expect_error(name: str, fake: FakeApi, reply: Reply) -> ProviderError:
    fake.then(reply)
    provider = make(name, fake)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.translate(jobs("Hello", "World"))
    finally:
        await provider.close()
    assert SECRET not in str(caught.value)
    assert "SECRET" not in repr(caught.value.args)
    return caught.value


async def test_429_is_retriable_and_carries_retry_after(api: Api) -> None:
    error = await expect_error(*api, status(429, "slow down", retry_after="7"))
    assert error.retriable
    assert error.reason == "rate_limited"
    assert error.retry_after_s == 7


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_5xx_is_retriable(api: Api, code: int) -> None:
    error = await expect_error(*api, status(code, "oops"))
    assert error.retriable
    assert str(code) in str(error)


async def test_a_hang_is_a_retriable_timeout(api: Api) -> None:
    error = await expect_error(*api, HANG)
    assert (error.reason, error.retriable) == ("timeout", True)


@pytest.mark.parametrize("reply", [GARBAGE, TRUNCATED, WRONG_COUNT], ids=["garbage", "truncated", "count"])
async def test_unusable_answers_are_retriable_bad_responses(api: Api, reply: Reply) -> None:
    error = await expect_error(*api, reply)
    assert (error.reason, error.retriable) == ("bad_response", True)


async def test_the_key_never_appears_in_an_error_even_when_the_server_echoes_it(api: Api) -> None:
    error = await expect_error(*api, status(400, f"bad key {SECRET}"))
    assert "***" in str(error)


async def test_a_mangled_placeholder_is_caught_and_the_fallback_answers(api: Api) -> None:
    """Through the ResilientProvider: the mangled answer is asked again, then the next provider."""
    name, fake = api
    fake.always(MANGLE)
    resilient = ResilientProvider(
        [make(name, fake), PseudoProvider()],
        {"*": (name, "pseudo")},
        ResilienceConfig(2, 0, 30, BreakerConfig(), {}, {}),
        telemetry=Telemetry(),
        clock=lambda: 0.0,
    )
    try:
        [out] = await resilient.translate(jobs("Hi {name}, %d new"))
    finally:
        await resilient.close()
    assert out.provider == "pseudo"
    assert out.text == "[de| Ĥî {name}, %d ñéŵ]"
    assert fake.calls == 2


def test_api_keys_are_secret_in_settings_dumps() -> None:
    settings = provider_settings("deepl", "http://127.0.0.1:1", google_api_key=SECRET, openai_api_key=SECRET)
    dumped = str(settings.safe_dict()) + repr(settings) + str(settings)
    assert SECRET not in dumped
