"""Token buckets, pure: state in, state out, time passed in (epoch ms). Used per provider
(requests/s and characters/s) and per user (requests/min)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class TokenBucket:
    rate_per_ms: float  # refill speed
    capacity: float  # burst size
    tokens: float
    updated_ms: float

    @classmethod
    def full(cls, per_second: float, now_ms: float, burst_s: float = 1.0) -> TokenBucket:
        capacity = max(1.0, per_second * burst_s)
        return cls(per_second / 1000, capacity, capacity, now_ms)

    def refilled(self, now_ms: float) -> TokenBucket:
        elapsed = max(0.0, now_ms - self.updated_ms)
        tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_ms)
        return replace(self, tokens=tokens, updated_ms=max(now_ms, self.updated_ms))

    def reserve(self, now_ms: float, n: float = 1) -> tuple[TokenBucket, float]:
        """Take ``n`` tokens now, borrowing from the future if needed; return the new state and
        how long (ms) the caller must wait before acting. Later callers queue behind."""
        bucket = self.refilled(now_ms)
        tokens = bucket.tokens - n
        wait = 0.0 if tokens >= 0 else -tokens / bucket.rate_per_ms
        return replace(bucket, tokens=tokens), wait

    def reserve_within(
        self, now_ms: float, max_wait_ms: float, n: float = 1
    ) -> tuple[TokenBucket, float | None]:
        """Like ``reserve``, unless the caller would wait more than ``max_wait_ms``: then nothing is
        taken and the wait is None (the queue behind the bucket is bounded)."""
        bucket, wait = self.reserve(now_ms, n)
        if wait > max_wait_ms:
            return self.refilled(now_ms), None
        return bucket, wait

    def try_take(self, now_ms: float, n: float = 1) -> tuple[TokenBucket, bool]:
        """Take ``n`` tokens only if they are there now."""
        bucket = self.refilled(now_ms)
        if bucket.tokens < n:
            return bucket, False
        return replace(bucket, tokens=bucket.tokens - n), True

    def idle(self, now_ms: float) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        return self.refilled(now_ms).tokens >= self.capacity


class KeyedLimiter:
    """One bucket per key (e.g. per user), ``per_minute`` requests with a burst of one minute's
    worth, times this process's ``share`` of the limit. Idle buckets are forgotten, so memory
    follows active keys only.

    The share makes a limit hold across processes: a worker owning p of the keyed topic's P
    partitions enforces p/P of it, so the buckets of all workers add up to the limit, and a key
    never gets more than the limit in all (less when its requests fall unevenly on partitions)."""

    def __init__(self, per_minute: float, *, max_keys: int = 100_000) -> None:
        self._per_minute = per_minute
        self._share = 1.0
        self._per_second = per_minute / 60
        self._burst_s = 60.0
        self._max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def share(self) -> float:
        return self._share

    def set_share(self, share: float, now_ms: float) -> None:
        """Enforce ``share`` (0 < share <= 1) of the limit from now on; every bucket keeps the same
        fraction of its tokens."""
        if not 0 < share <= 1:
            raise ValueError(f"a share of the limit is in (0, 1], not {share}")
        ratio = share / self._share
        self._share, self._per_second = share, self._per_minute / 60 * share
        for key, old in self._buckets.items():
            bucket = old.refilled(now_ms)
            self._buckets[key] = replace(
                bucket,
                rate_per_ms=bucket.rate_per_ms * ratio,
                capacity=bucket.capacity * ratio,
                tokens=bucket.tokens * ratio,
            )

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str, now_ms: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_idle(now_ms)
            bucket = TokenBucket.full(self._per_second, now_ms, self._burst_s)
        return bucket

    def reserve(self, key: str, now_ms: float, max_wait_ms: float = math.inf) -> float | None:
        """Milliseconds to wait before this key's request may go ahead (0: now), or None when that
        would be more than ``max_wait_ms`` (nothing is taken then)."""
        self._buckets[key], wait = self._bucket(key, now_ms).reserve_within(now_ms, max_wait_ms)
        return wait

    def try_take(self, key: str, now_ms: float) -> bool:
        self._buckets[key], ok = self._bucket(key, now_ms).try_take(now_ms)
        return ok

    def _forget_idle(self, now_ms: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.idle(now_ms)]:
            del self._buckets[key]
