"""Pure synthetic request generation for demos, tests and benchmarks: ``count`` requests of which
a ``dup_ratio`` share repeat an earlier text, deterministic for a seed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

_WORDS = [
    "account",
    "order",
    "invoice",
    "delivery",
    "welcome",
    "profile",
    "settings",
    "message",
    "payment",
    "search",
    "cart",
    "checkout",
    "refund",
    "support",
    "review",
    "language",
    "update",
    "password",
    "notification",
    "friend",
    "photo",
]


def unique_count(count: int, dup_ratio: float) -> int:
    if not 0 <= dup_ratio < 1:
        raise ValueError("dup_ratio must be in [0, 1)")
    return max(1, count - round(count * dup_ratio)) if count else 0


def synthetic_requests(
    count: int, dup_ratio: float, *, seed: int, now_ms: int, target_lang: str = "de", run_id: str = "syn"
) -> Iterator[dict[str, Any]]:
    """Yield request dicts. The first occurrence of every text comes before its duplicates, and
    duplicates are spread over the whole stream (some land while the first is still in flight)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not security)
    uniques = unique_count(count, dup_ratio)
    texts = [
        f"{rng.choice(_WORDS).title()} {i}: {' '.join(rng.choices(_WORDS, k=5))}" for i in range(uniques)
    ]
    # The first request is always new (a repeat needs something to repeat); the other new texts
    # are spread at random over the rest of the stream.
    new_at = {0, *rng.sample(range(1, count), uniques - 1)} if count else set()
    issued = 0
    for i in range(count):
        if i in new_at:
            text = texts[issued]
            issued += 1
        else:
            text = texts[rng.randrange(issued)]
        yield {
            "schema_version": 1,
            "request_id": f"{run_id}-{seed}-{i}",
            "tenant": f"tenant-{i % 3}",
            "user": f"user-{rng.randrange(50)}",
            "text": text,
            "source_lang": "en",
            "target_lang": target_lang,
            "created_at": now_ms,
        }
