"""DeepL v2 against its fake: the request DeepL documents, free vs pro host, 456 and 403."""

from __future__ import annotations

import pytest

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.providers import create_provider
from linguaflow.streams.providers.deepl import FREE_URL, PRO_URL, DeepLProvider, deepl_target
from testbed.fakes.apis import DEEPL
from testbed.fakes.server import status
from tests.adapters.conftest import SECRET, jobs, make, running


async def test_the_request_is_deepls_v2_format() -> None:
    with running(DEEPL) as fake:
        provider = make("deepl", fake)
        batch = jobs('Hi <x id="0"/>', "Bye", formality="more", glossary="g-123@4", context="a button")
        out = await provider.translate(batch)
        await provider.close()
    assert fake.headers[0]["Authorization"] == f"DeepL-Auth-Key {SECRET}"
    assert fake.requests == [
        {
            "text": ['Hi <x id="0"/>', "Bye"],
            "target_lang": "DE",
            "source_lang": "EN",
            "tag_handling": "xml",
            "show_billed_characters": True,
            "formality": "more",
            "glossary_id": "g-123",
            "context": "a button",
        }
    ]
    assert [t.billed_chars for t in out] == [len('Hi <x id="0"/>'), 3]  # DeepL's billed_characters
    assert out[0].cost == pytest.approx(out[0].billed_chars * 25 / 1e6)


async def test_html_requests_use_html_tag_handling_and_auto_source_is_left_out() -> None:
    with running(DEEPL) as fake:
        provider = make("deepl", fake)
        await provider.translate(jobs("<b>x</b>", format="html"))
        await provider.close()
    body = fake.requests[0]
    assert body["tag_handling"] == "html"
    assert "formality" not in body


async def test_456_quota_exceeded_is_not_retriable_so_the_chain_falls_back() -> None:
    with running(DEEPL) as fake:
        fake.then(status(456, "Quota exceeded"), status(403, "Wrong key"))
        provider = make("deepl", fake)
        for reason in ("quota_exceeded", "auth"):
            with pytest.raises(ProviderError) as caught:
                await provider.translate(jobs("Hello"))
            assert (caught.value.reason, caught.value.retriable) == (reason, False)
        await provider.close()


def test_free_keys_use_the_free_host_and_others_the_pro_host() -> None:
    free = create_provider("deepl", Settings(deepl_api_key="abc:fx"))
    pro = create_provider("deepl", Settings(deepl_api_key="abc"))
    assert isinstance(free, DeepLProvider)
    assert isinstance(pro, DeepLProvider)
    assert free.url == FREE_URL + "/v2/translate"
    assert pro.url == PRO_URL + "/v2/translate"
    with pytest.raises(ConfigError, match="DEEPL_API_KEY"):
        create_provider("deepl", Settings())


def test_target_codes() -> None:
    assert [deepl_target(c) for c in ("de", "en", "en-GB", "pt", "pt-BR", "zh-Hans")] == [
        "DE",
        "EN-US",
        "EN-GB",
        "PT-PT",
        "PT-BR",
        "ZH-HANS",
    ]
