"""OpenAI-compatible chat completions against its fake: the request, the versioned prompt in the
model version, and strict parsing of the JSON-mode answer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from linguaflow.errors import ProviderError
from linguaflow.streams.providers.openai_chat import PROMPT_VERSION, parse_answer
from testbed.fakes.apis import OPENAI, OPENAI_WITHOUT_USAGE, usage
from tests.adapters.conftest import SECRET, jobs, make, running


async def test_the_request_is_a_json_mode_chat_completion() -> None:
    with running(OPENAI) as fake:
        provider = make("openai", fake, openai_model="llama-3-8b")
        out = await provider.translate(jobs('Hi <x id="0"/>', "Bye", context="greeting"))
        await provider.close()
    assert fake.headers[0]["Authorization"] == f"Bearer {SECRET}"
    body = fake.requests[0]
    assert body["model"] == "llama-3-8b"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0
    assert orjson.loads(body["messages"][1]["content"]) == {
        "source_lang": "en",
        "target_lang": "de",
        "formality": "default",
        "context": "greeting",
        "texts": ['Hi <x id="0"/>', "Bye"],
    }
    assert provider.model_version == f"openai/llama-3-8b/prompt-{PROMPT_VERSION}"
    assert out[1].model == provider.model_version


def completion(content: Any, finish: str = "stop") -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]}


def test_a_well_formed_answer_parses() -> None:
    assert parse_answer(completion('{"translations": ["a", "b"]}'), 2) == ["a", "b"]


@pytest.mark.parametrize(
    "data",
    [
        completion("Sure! Here are your translations: a, b"),
        completion('{"translations": ["a"]}'),
        completion('{"translations": ["a", 2]}'),
        completion('{"translations": ["a", "b"], "note": "x"}'),
        completion('["a", "b"]'),
        completion('{"translations": ["a", "b"]}', finish="length"),
        completion(None),
        {"choices": []},
        {"error": "x"},
    ],
    ids=["prose", "short", "non-string", "extra-key", "bare-list", "cut-off", "null", "no-choice", "error"],
)
def test_anything_else_is_a_retriable_bad_response(data: dict[str, Any]) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_answer(data, 2)
    assert (caught.value.reason, caught.value.retriable) == ("bad_response", True)


PRICES = {"openai": {"input": 2.0, "output": 8.0}}  # USD per million tokens


async def test_the_cost_comes_from_the_token_usage_shared_by_characters() -> None:
    with running(OPENAI) as fake:
        provider = make("openai", fake, provider_token_prices=PRICES)
        batch = jobs("Hello", "A much longer text, five times as long.")
        out = await provider.translate(batch)
        await provider.close()
    tokens = usage(fake.requests[0], [t.text for t in out])
    call = (tokens["prompt_tokens"] * 2.0 + tokens["completion_tokens"] * 8.0) / 1e6
    assert sum(t.cost for t in out) == pytest.approx(call, abs=1e-8)
    assert out[1].cost / out[0].cost == pytest.approx(len(batch[1].text) / len(batch[0].text), rel=1e-3)
    assert [t.billed_chars for t in out] == [len(j.text) for j in batch]


async def test_without_usage_the_cost_falls_back_to_the_character_price() -> None:
    with running(OPENAI_WITHOUT_USAGE) as fake:
        provider = make("openai", fake, provider_token_prices=PRICES, provider_prices={"openai": 3.0})
        out = await provider.translate(jobs("Hello", "World!"))
        await provider.close()
    assert [t.cost for t in out] == [pytest.approx(5 * 3.0 / 1e6), pytest.approx(6 * 3.0 / 1e6)]
