"""The wall clock the pipeline's pure cores are given (they take a clock; they never read one)."""

from __future__ import annotations

import time


def wall_ms() -> float:
    """Milliseconds since the epoch."""
    return time.time() * 1000
