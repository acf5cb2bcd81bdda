"""``deepl``: DeepL API v2, ``POST /v2/translate`` (JSON body).

Keys ending ``:fx`` belong to DeepL API Free (``api-free.deepl.com``), others to Pro
(``api.deepl.com``); ``LINGUAFLOW_DEEPL_BASE_URL`` overrides both (tests, proxies). Texts are sent
with ``tag_handling`` (``html`` for HTML requests, else ``xml``) because masked placeholders are
``<x id="N"/>`` tags. Errors: 429 (retriable, ``Retry-After``), 456 quota exceeded (not
retriable here: the chain falls back), 403 bad key, 413 too large, 5xx (retriable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.providers.base import ProviderLimits, Translated, TranslationJob, answer, register
from linguaflow.streams.providers.http import HttpClient, bad_response, strings

FREE_URL = "https://api-free.deepl.com"
PRO_URL = "https://api.deepl.com"


def deepl_target(lang: str) -> str:
    """DeepL wants EN-GB/EN-US and PT-PT/PT-BR, upper case; plain ``en``/``pt`` get a default."""
    code = lang.upper()
    return {"EN": "EN-US", "PT": "PT-PT"}.get(code, code)


def deepl_source(lang: str) -> str | None:
    """Source languages are bare (``EN``, not ``EN-GB``); ``auto`` means let DeepL detect."""
    return None if lang == "auto" else lang.split("-", maxsplit=1)[0].upper()


def request_body(batch: Sequence[TranslationJob]) -> dict[str, Any]:
    first = batch[0]  # a batch shares languages, format, formality, glossary and context
    body: dict[str, Any] = {
        "text": [job.text for job in batch],
        "target_lang": deepl_target(first.target_lang),
        "tag_handling": "html" if first.format == "html" else "xml",
        "show_billed_characters": True,
    }
    source = deepl_source(first.source_lang)
    if source is not None:
        body["source_lang"] = source
    if first.formality != "default":
        body["formality"] = first.formality
    if first.glossary:
        body["glossary_id"] = first.glossary.split("@", 1)[0]
    if first.context:
        body["context"] = first.context
    return body


def _status(status: int, body: str) -> ProviderError | None:
    if status == 456:
        return ProviderError(f"HTTP 456 quota exceeded: {body[:200]}", reason="quota_exceeded")
    if status == 413:
        return ProviderError("HTTP 413 request too large", reason="too_large")
    return None


class DeepLProvider:
    name = "deepl"
    model_version = "deepl/v2"
    # Documented: up to 50 texts and 128 KiB per request. Characters are counted here, so the
    # budget leaves room for 4-byte UTF-8 and the JSON around it.
    limits = ProviderLimits(max_texts=50, max_chars=30_000)

    def __init__(self, api_key: str, base_url: str, *, timeout_s: float, cost_per_char: float) -> None:
        self._key = api_key
        self.url = base_url.rstrip("/") + "/v2/translate"
        self._http = HttpClient("deepl", timeout_s, api_key)
        self.cost_per_char = cost_per_char

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        data = await self._http.post_json(
            self.url,
            request_body(batch),
            headers={"Authorization": f"DeepL-Auth-Key {self._key}"},
            status_map=_status,
        )
        items = data.get("translations") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise bad_response("deepl", "no 'translations' list")
        texts = strings([i.get("text") for i in items], len(batch), "deepl")
        return [
            answer(self, job, text, _billed(item, job))
            for job, text, item in zip(batch, texts, items, strict=True)
        ]

    async def close(self) -> None:
        await self._http.close()


def _billed(item: dict[str, Any], job: TranslationJob) -> int:
    billed = item.get("billed_characters")
    return billed if isinstance(billed, int) and billed >= 0 else len(job.text)


@register("deepl")
def _create(settings: Settings) -> DeepLProvider:
    if settings.deepl_api_key is None:
        raise ConfigError("provider 'deepl' needs LINGUAFLOW_DEEPL_API_KEY")
    key = settings.deepl_api_key.get_secret_value()
    base = settings.deepl_base_url or (FREE_URL if key.endswith(":fx") else PRO_URL)
    return DeepLProvider(
        key, base, timeout_s=settings.provider_timeout_s, cost_per_char=settings.price_per_char("deepl")
    )
