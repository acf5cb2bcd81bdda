"""``libre``: LibreTranslate, ``POST /translate`` with ``q`` as a list, ``source`` (``auto``
allowed), ``target``, ``format=html`` (masked placeholders are tags) and ``api_key`` when the
server needs one. The answer's ``translatedText`` is then a list, one per ``q``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linguaflow.settings import Settings
from linguaflow.streams.providers.base import ProviderLimits, Translated, TranslationJob, answer, register
from linguaflow.streams.providers.http import HttpClient, bad_response, strings


def request_body(batch: Sequence[TranslationJob], api_key: str | None) -> dict[str, Any]:
    first = batch[0]
    body: dict[str, Any] = {
        "q": [job.text for job in batch],
        "source": first.source_lang.split("-")[0] if first.source_lang != "auto" else "auto",
        "target": first.target_lang.split("-")[0],
        "format": "html",
    }
    if api_key:
        body["api_key"] = api_key
    return body


class LibreProvider:
    name = "libre"
    model_version = "libre/1"
    # Self-hosted servers set their own --char-limit/--batch-limit (public instances: 5000 chars).
    limits = ProviderLimits(max_texts=50, max_chars=5_000)

    def __init__(self, url: str, api_key: str | None, *, timeout_s: float, cost_per_char: float) -> None:
        self._url = url.rstrip("/") + "/translate"
        self._key = api_key
        self._http = HttpClient("libre", timeout_s, api_key)
        self.cost_per_char = cost_per_char

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        data = await self._http.post_json(self._url, request_body(batch, self._key), headers={})
        if not isinstance(data, dict):
            raise bad_response("libre", "not a JSON object")
        texts = strings(data.get("translatedText"), len(batch), "libre")
        return [answer(self, job, text, len(job.text)) for job, text in zip(batch, texts, strict=True)]

    async def close(self) -> None:
        await self._http.close()


@register("libre")
def _create(settings: Settings) -> LibreProvider:
    key = settings.libre_api_key.get_secret_value() if settings.libre_api_key else None
    return LibreProvider(
        settings.libre_url,
        key,
        timeout_s=settings.provider_timeout_s,
        cost_per_char=settings.price_per_char("libre"),
    )
