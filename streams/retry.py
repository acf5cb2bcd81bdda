"""Retries with exponential backoff and full jitter. The delay maths is pure; the loop takes its
sleep function so tests run without waiting."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from linguaflow.errors import LinguaflowError

T = TypeVar("T")


def backoff_ms(
    attempt: int, base_ms: float, cap_ms: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling: float = min(cap_ms, base_ms * 2 ** (attempt - 1))
    return rand() * ceiling


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_ms: float,
    cap_ms: float,
    sleep: Callable[[float], Awaitable[None]],
    on_retry: Callable[[int, LinguaflowError], None] = lambda attempt, exc: None,
) -> T:
    """Run ``call`` until it succeeds, raises a non-retriable error, or ``attempts`` are used up."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except LinguaflowError as exc:
            if not exc.retriable or attempt == attempts:
                raise
            on_retry(attempt, exc)
            await sleep(backoff_ms(attempt, base_ms, cap_ms) / 1000)
    raise AssertionError("unreachable: the loop returns or raises")
