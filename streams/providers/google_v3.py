"""``google_v3``: Google Cloud Translation Advanced (v3),
``POST /v3/projects/{project}/locations/{location}:translateText``.

The body carries ``contents`` (the texts), ``targetLanguageCode``, ``sourceLanguageCode``
(omitted for ``auto``: Google detects it), ``mimeType`` ``text/html`` (masked placeholders are
tags, whatever the request's format; Google answers with HTML entities, which unmasking decodes),
``model`` when one is configured, and ``glossaryConfig`` for a request's glossary (the ``id`` of
``id@version`` names ``projects/P/locations/L/glossaries/id``; an id that is already a resource
name is used as is). With a glossary the answer's ``glossaryTranslations`` are taken, and Google
needs the source language: a glossary request with ``auto`` is refused here without a call.

Auth is an OAuth2 bearer token (``google_auth``): a 401 drops the token and the call is made once
more with a new one; a second 401 is final. 403 as for v2 (rate limit retriable, quota not,
anything else ``auth``); 400 INVALID_ARGUMENT (e.g. an unsupported language) not retriable; 429
(``Retry-After``), 5xx, timeouts and unusable answers retriable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.providers.base import ProviderLimits, Translated, TranslationJob, answer, register
from linguaflow.streams.providers.google import forbidden
from linguaflow.streams.providers.google_auth import StaticToken, TokenSource, google_credentials
from linguaflow.streams.providers.http import HttpClient, item_strings

PATH = "/v3/projects/{project}/locations/{location}:translateText"


class Unauthenticated(ProviderError):
    """HTTP 401: the token was refused (expired early, revoked)."""

    reason = "auth"


def _resource(project: str, location: str, kind: str, name: str) -> str:
    return name if name.startswith("projects/") else f"projects/{project}/locations/{location}/{kind}/{name}"


def request_body(
    batch: Sequence[TranslationJob], *, project: str, location: str, model: str | None
) -> dict[str, Any]:
    first = batch[0]  # a batch shares languages, format, glossary (see streams.batching)
    body: dict[str, Any] = {
        "contents": [job.text for job in batch],
        "targetLanguageCode": first.target_lang,
        "mimeType": "text/html",
    }
    if first.source_lang != "auto":
        body["sourceLanguageCode"] = first.source_lang
    if model:
        body["model"] = _resource(project, location, "models", model)
    if first.glossary:
        if first.source_lang == "auto":
            raise ProviderError(
                "google_v3: a glossary needs a source language (Google does not detect one with it)",
                reason="rejected",
            )
        glossary = _resource(project, location, "glossaries", first.glossary.split("@", 1)[0])
        body["glossaryConfig"] = {"glossary": glossary}
    return body


def _status(status: int, body: str) -> ProviderError | None:
    if status == 401:
        return Unauthenticated(f"HTTP 401 unauthenticated: {body[:200]}")
    return forbidden(status, body)


class GoogleV3Provider:
    name = "google_v3"
    # Documented: at most 1,024 contents per request, 30,000 code points recommended.
    limits = ProviderLimits(max_texts=1024, max_chars=30_000)

    def __init__(
        self,
        tokens: TokenSource,
        base_url: str,
        *,
        project: str,
        location: str,
        model: str | None,
        timeout_s: float,
        cost_per_char: float,
    ) -> None:
        self._tokens = tokens
        self._url = base_url.rstrip("/") + PATH.format(project=project, location=location)
        self._project, self._location, self._model = project, location, model
        self._http = HttpClient("google_v3", timeout_s, None)
        self.model_version = "google/v3" + (f"/{model}" if model else "")
        self.cost_per_char = cost_per_char

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        body = request_body(batch, project=self._project, location=self._location, model=self._model)
        token = await self._tokens.token()
        try:
            data = await self._post(body, token)
        except Unauthenticated:
            if not self._tokens.invalidate(token):
                raise
            data = await self._post(body, await self._tokens.token())  # a second 401 is final
        field = "glossaryTranslations" if "glossaryConfig" in body else "translations"
        texts = item_strings(data, field, "translatedText", len(batch), "google_v3")
        return [answer(self, job, text, len(job.text)) for job, text in zip(batch, texts, strict=True)]

    async def _post(self, body: dict[str, Any], token: str) -> Any:
        return await self._http.post_json(
            self._url,
            body,
            headers={"Authorization": f"Bearer {token}"},
            status_map=_status,
            secrets=(token,),
        )

    async def close(self) -> None:
        await self._http.close()
        await self._tokens.close()


def _token_source(settings: Settings) -> tuple[TokenSource, str | None]:
    """The configured credentials (see google_auth.py), and the project they name if any."""
    if settings.google_v3_credentials_file is None and settings.google_v3_access_token is not None:
        return StaticToken(settings.google_v3_access_token.get_secret_value()), None
    return google_credentials(settings.google_v3_credentials_file, settings.provider_timeout_s)


@register("google_v3")
def _create(settings: Settings) -> GoogleV3Provider:
    tokens, key_project = _token_source(settings)
    project = settings.google_v3_project or key_project
    if not project:
        raise ConfigError(
            "provider 'google_v3' needs LINGUAFLOW_GOOGLE_V3_PROJECT (its credentials name no project)"
        )
    return GoogleV3Provider(
        tokens,
        settings.google_v3_base_url,
        project=project,
        location=settings.google_v3_location,
        model=settings.google_v3_model,
        timeout_s=settings.provider_timeout_s,
        cost_per_char=settings.price_per_char("google_v3"),
    )
