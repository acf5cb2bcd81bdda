"""``openai``: any OpenAI-compatible chat completions API, ``POST {base}/v1/chat/completions``
(OpenAI, Azure-style gateways, vLLM, Ollama, LiteLLM...).

The texts go as one JSON document in the user message and the model must answer in JSON mode
with ``{"translations": [...]}``, one string per text, in order. The answer is parsed strictly:
not JSON, not that shape, the wrong number of items or a truncated answer (``finish_reason``
``length``) is a retriable failure. The prompt template is versioned and its version is part of
``model_version`` (and so of every cache key): editing the prompt means bumping PROMPT_VERSION.

Cost: the answer's ``usage`` (prompt and completion tokens) at the provider's token prices is what
the call cost; each text pays a share of it in proportion to its characters (the prompt around the
texts is shared the same way). Without usage (some servers leave it out), characters at the
character price, as for other providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

import orjson

from linguaflow.errors import ConfigError
from linguaflow.settings import Settings, TokenPrice
from linguaflow.streams.providers.base import (
    ProviderLimits,
    Translated,
    TranslationJob,
    answer,
    apportion,
    register,
)
from linguaflow.streams.providers.http import HttpClient, bad_response, strings

PROMPT_VERSION = 1
SYSTEM_PROMPT = (
    "You are a professional translator. The user sends a JSON object with source_lang, "
    "target_lang, formality, context and texts. Translate every string of texts into target_lang "
    "(source_lang 'auto': detect it). Each text is an XML fragment: keep every <x id=\"N\"/> tag "
    "exactly as it is (you may move it to where the grammar needs it), keep XML entities escaped, "
    "translate nothing else than the prose. Use context only to choose words. Answer with a JSON "
    'object {"translations": [...]} holding exactly one translated string per input text, in order.'
)


def request_body(model: str, batch: Sequence[TranslationJob]) -> dict[str, Any]:
    first = batch[0]
    task = {
        "source_lang": first.source_lang,
        "target_lang": first.target_lang,
        "formality": first.formality,
        "context": first.context or "",
        "texts": [job.text for job in batch],
    }
    return {
        "model": model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": orjson.dumps(task).decode()},
        ],
    }


def parse_answer(data: Any, count: int) -> list[str]:
    """The translations from a chat completion, strictly."""
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise bad_response("openai", "no choices[0].message.content") from None
    if choice.get("finish_reason") == "length":
        raise bad_response("openai", "the answer was cut off (finish_reason=length)")
    try:
        parsed = orjson.loads(content)
    except (orjson.JSONDecodeError, TypeError):
        raise bad_response("openai", f"the content is not JSON: {str(content)[:100]!r}") from None
    if not isinstance(parsed, dict) or set(parsed) != {"translations"}:
        raise bad_response("openai", 'the content is not {"translations": [...]}')
    return strings(parsed["translations"], count, "openai")


def usage_cost(data: Any, price: TokenPrice | None) -> float | None:
    """What the call cost from the tokens it reports, or None (no usage, or no token price)."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if price is None or not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if _count(prompt) and _count(completion):
        return (prompt * price.input + completion * price.output) / 1_000_000
    return None


def _count(value: Any) -> TypeGuard[int]:
    return type(value) is int and value >= 0  # bool is an int subclass, not a count


class OpenAIChatProvider:
    name = "openai"
    # Small batches: the whole answer must fit the model's output limit, and a failed answer is
    # asked again as a whole.
    limits = ProviderLimits(max_texts=20, max_chars=6_000)

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeout_s: float,
        cost_per_char: float,
        token_price: TokenPrice | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/chat/completions"
        self._key = api_key
        self._model = model
        self._http = HttpClient("openai", timeout_s, api_key)
        self.model_version = f"openai/{model}/prompt-{PROMPT_VERSION}"
        self.cost_per_char = cost_per_char  # when an answer reports no token usage
        self._token_price = token_price

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        data = await self._http.post_json(self._url, request_body(self._model, batch), headers=headers)
        texts = parse_answer(data, len(batch))
        sizes = [len(job.text) for job in batch]
        cost = usage_cost(data, self._token_price)
        costs = [None] * len(batch) if cost is None else apportion(cost, sizes)
        return [
            answer(self, job, text, size, share)
            for job, text, size, share in zip(batch, texts, sizes, costs, strict=True)
        ]

    async def close(self) -> None:
        await self._http.close()


@register("openai")
def _create(settings: Settings) -> OpenAIChatProvider:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if key is None and "api.openai.com" in settings.openai_base_url:
        raise ConfigError("provider 'openai' needs LINGUAFLOW_OPENAI_API_KEY for api.openai.com")
    return OpenAIChatProvider(
        settings.openai_base_url,
        key,
        settings.openai_model,
        timeout_s=settings.provider_timeout_s,
        cost_per_char=settings.price_per_char("openai"),
        token_price=settings.token_price("openai"),
    )
