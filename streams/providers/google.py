"""``google``: Google Cloud Translation Basic (v2), ``POST /language/translate/v2``.

The body carries ``q`` (a list), ``target``, ``source`` (omitted for ``auto``) and
``format=html`` (masked placeholders are tags; Google answers with HTML entities, which unmasking
decodes). The API key goes in the ``X-Goog-Api-Key`` header, which Google accepts like the ``key``
query parameter, so it never appears in a URL (and so in no log or error message). 403 is a
quota or key problem (daily limit: not retriable, rate limit: retriable); 429 and 5xx retriable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.providers.base import ProviderLimits, Translated, TranslationJob, answer, register
from linguaflow.streams.providers.http import HttpClient, item_strings

PATH = "/language/translate/v2"


def request_body(batch: Sequence[TranslationJob]) -> dict[str, Any]:
    first = batch[0]
    body: dict[str, Any] = {"q": [job.text for job in batch], "target": first.target_lang, "format": "html"}
    if first.source_lang != "auto":
        body["source"] = first.source_lang
    return body


def forbidden(status: int, body: str) -> ProviderError | None:
    """What a Google 403 means (v2 and v3 alike): a per-minute rate limit (retriable), a quota or
    daily limit (not retriable here: the chain falls back), else a key or permission problem."""
    if status != 403:
        return None
    # v2: rateLimitExceeded, userRateLimitExceeded; v3: RATE_LIMIT_EXCEEDED. Per minute.
    if "ratelimitexceeded" in body.lower().replace("_", ""):
        return ProviderError(f"HTTP 403 rate limit: {body[:200]}", reason="rate_limited", retriable=True)
    if "Limit" in body or "quota" in body.lower():
        return ProviderError(f"HTTP 403 quota exceeded: {body[:200]}", reason="quota_exceeded")
    return ProviderError(f"HTTP 403 forbidden: {body[:200]}", reason="auth")


class GoogleProvider:
    name = "google"
    model_version = "google/v2"
    # Documented: up to 128 ``q`` values; 30k code points per request (5k recommended).
    limits = ProviderLimits(max_texts=128, max_chars=30_000)

    def __init__(self, api_key: str, base_url: str, *, timeout_s: float, cost_per_char: float) -> None:
        self._key = api_key
        self._url = base_url.rstrip("/") + PATH
        self._http = HttpClient("google", timeout_s, api_key)
        self.cost_per_char = cost_per_char

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        data = await self._http.post_json(
            self._url, request_body(batch), headers={"X-Goog-Api-Key": self._key}, status_map=forbidden
        )
        inner = data.get("data") if isinstance(data, dict) else None
        texts = item_strings(inner, "translations", "translatedText", len(batch), "google")
        return [answer(self, job, text, len(job.text)) for job, text in zip(batch, texts, strict=True)]

    async def close(self) -> None:
        await self._http.close()


@register("google")
def _create(settings: Settings) -> GoogleProvider:
    if settings.google_api_key is None:
        raise ConfigError("provider 'google' needs LINGUAFLOW_GOOGLE_API_KEY")
    return GoogleProvider(
        settings.google_api_key.get_secret_value(),
        settings.google_base_url,
        timeout_s=settings.provider_timeout_s,
        cost_per_char=settings.price_per_char("google"),
    )
