"""LibreTranslate against its fake: q as a list, auto source, api_key in the body."""

from __future__ import annotations

from linguaflow.streams.providers.base import TranslationJob
from testbed.fakes.apis import LIBRE
from tests.adapters.conftest import SECRET, make, running


async def test_the_request_is_libretranslates_format() -> None:
    with running(LIBRE) as fake:
        provider = make("libre", fake)
        batch = [TranslationJob("k1", "Hi", "auto", "pt-BR"), TranslationJob("k2", "Yo", "auto", "pt-BR")]
        out = await provider.translate(batch)
        await provider.close()
    assert fake.requests == [
        {"q": ["Hi", "Yo"], "source": "auto", "target": "pt", "format": "html", "api_key": SECRET}
    ]
    assert [t.text for t in out] == ["[pt] Hi", "[pt] Yo"]
    assert out[0].cost == 0.0  # self-hosted: free unless priced
