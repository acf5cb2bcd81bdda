"""Exponential backoff with full jitter, pure. The retry loop that uses it lives in
``streams.providers.resilient`` (per provider, with Retry-After, breakers and fallback)."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_ms(
    attempt: int, base_ms: float, cap_ms: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling: float = min(cap_ms, base_ms * 2 ** (attempt - 1))
    return rand() * ceiling
