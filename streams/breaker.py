"""A circuit breaker per provider, as a pure state machine (time passed in, epoch ms).

closed --(error rate >= threshold over the window, with enough calls)--> open
open --(open_ms elapsed)--> half-open: one probe call is let through
half-open --probe ok--> closed (window cleared) | --probe failed--> open again
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    window_ms: float = 30_000
    min_calls: int = 5
    error_rate: float = 0.5
    open_ms: float = 30_000
    max_samples: int = 200  # outcomes kept in the window (bounds the work per call)


@dataclass(frozen=True, slots=True)
class Breaker:
    config: BreakerConfig
    state: BreakerState = BreakerState.CLOSED
    outcomes: tuple[tuple[float, bool], ...] = ()  # (time, ok) inside the window
    opened_ms: float = 0.0
    probe_ms: float | None = None  # when the half-open probe was let through

    def allow(self, now_ms: float) -> tuple[Breaker, bool]:
        """May a call go to this provider now? (Lets one probe through once open_ms is up.)"""
        if self.state is BreakerState.CLOSED:
            return self, True
        probe_due = self.probe_ms is None or now_ms - self.probe_ms >= self.config.open_ms
        if self.state is BreakerState.OPEN and now_ms - self.opened_ms < self.config.open_ms:
            return self, False
        if not probe_due:
            return self, False  # a probe is already out (a lost probe is retried after open_ms)
        return replace(self, state=BreakerState.HALF_OPEN, probe_ms=now_ms), True

    def record(self, now_ms: float, ok: bool) -> Breaker:
        if self.state is BreakerState.HALF_OPEN:
            if ok:
                return Breaker(self.config)
            return replace(self, state=BreakerState.OPEN, opened_ms=now_ms, probe_ms=None, outcomes=())
        if self.state is BreakerState.OPEN:
            return self  # a call that started before the breaker opened: no news
        horizon = now_ms - self.config.window_ms
        outcomes = (*(o for o in self.outcomes if o[0] > horizon), (now_ms, ok))[-self.config.max_samples :]
        failures = sum(1 for _, good in outcomes if not good)
        enough = len(outcomes) >= self.config.min_calls
        if not ok and enough and failures / len(outcomes) >= self.config.error_rate:  # a success never opens
            return replace(self, state=BreakerState.OPEN, opened_ms=now_ms, outcomes=())
        return replace(self, outcomes=outcomes)
