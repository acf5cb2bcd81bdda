"""Cost of token-billed (LLM) calls: the call's usage at the token prices, shared by the texts of
the batch in proportion to their characters, down to the request row that paid for it."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.schemas.request import request_from_dict
from linguaflow.settings import DEFAULT_TOKEN_PRICES, Settings, TokenPrice
from linguaflow.sinks.rows import request_row
from linguaflow.streams.outcomes import new_entry, result_for
from linguaflow.streams.providers.base import Translated, apportion
from linguaflow.streams.providers.openai_chat import usage_cost

PRICE = TokenPrice(input=2.0, output=8.0)


@given(
    total=st.floats(0, 1_000, allow_nan=False),
    weights=st.lists(st.integers(0, 10_000), min_size=1, max_size=50),
)
def test_shares_add_up_to_the_call_and_follow_the_weights(total: float, weights: list[int]) -> None:
    shares = apportion(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert all(s >= 0 for s in shares)
    for (w1, s1), (w2, s2) in itertools.pairwise(zip(weights, shares, strict=True)):
        if w1 < w2:
            assert s1 <= s2


def test_texts_without_characters_share_equally() -> None:
    assert apportion(0.3, [0, 0, 0]) == [pytest.approx(0.1)] * 3


def test_the_call_cost_is_prompt_and_completion_tokens_at_their_prices() -> None:
    data = {"usage": {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}}
    assert usage_cost(data, PRICE) == pytest.approx((1_000 * 2 + 500 * 8) / 1e6)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"usage": None},
        {"usage": {"prompt_tokens": 10}},
        {"usage": {"prompt_tokens": "10", "completion_tokens": 5}},
        {"usage": {"prompt_tokens": -1, "completion_tokens": 5}},
        {"usage": {"prompt_tokens": True, "completion_tokens": 5}},
        [],
    ],
    ids=["absent", "null", "half", "string", "negative", "bool", "not-a-dict"],
)
def test_no_usable_usage_means_no_token_cost(data: Any) -> None:
    assert usage_cost(data, PRICE) is None


def test_no_token_price_means_no_token_cost() -> None:
    assert usage_cost({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}, None) is None


def test_token_prices_are_read_as_json_and_merged_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINGUAFLOW_PROVIDER_TOKEN_PRICES", '{"mylm": {"input": 0.5, "output": 1.5}}')
    settings = Settings()
    assert settings.token_price("mylm") == TokenPrice(input=0.5, output=1.5)
    assert settings.token_price("openai") == DEFAULT_TOKEN_PRICES["openai"]
    assert settings.token_price("deepl") is None
    monkeypatch.setenv("LINGUAFLOW_PROVIDER_TOKEN_PRICES", '{"openai": {"input": -1, "output": 1}}')
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Settings()


def test_a_share_reaches_the_request_row_of_the_miss_that_paid() -> None:
    request = request_from_dict(
        {"request_id": "r1", "text": "Hello", "target_lang": "de"}, max_text_chars=100, now_ms=0
    )
    [share, _] = apportion(0.004, [5, 15])
    translated = Translated("k", "Hallo", 5, "openai", "openai/m/prompt-1", round(share, 8))
    entry = new_entry(request, translated, now_ms=1_000)
    paid = result_for(request, entry, cache_hit=False, coalesced=False, now_ms=1_000, traceparent=None)
    hit = result_for(request, entry, cache_hit=True, coalesced=False, now_ms=1_000, traceparent=None)
    assert (paid.cost, hit.cost) == (0.001, 0.0)
    assert Decimal("0.001") in request_row(paid)
