"""The pure resilience state: token buckets (per provider, per user) and the circuit breaker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.streams.breaker import Breaker, BreakerConfig, BreakerState
from linguaflow.streams.ratelimit import KeyedLimiter, TokenBucket

CONFIG = BreakerConfig(window_ms=10_000, min_calls=4, error_rate=0.5, open_ms=5_000)


# --- token buckets -------------------------------------------------------------------------------


def test_a_full_bucket_serves_its_burst_then_makes_callers_queue() -> None:
    bucket = TokenBucket.full(2, now_ms=0)  # 2 per second, burst 2
    waits = []
    for _ in range(4):
        bucket, wait = bucket.reserve(0)
        waits.append(wait)
    assert waits == [0, 0, 500, 1000]


def test_try_take_never_borrows() -> None:
    bucket = TokenBucket.full(1, now_ms=0)
    bucket, ok = bucket.try_take(0)
    assert ok
    bucket, ok = bucket.try_take(10)
    assert not ok
    bucket, ok = bucket.try_take(1000)
    assert ok


@given(
    rate=st.floats(0.1, 1000),
    steps=st.lists(st.tuples(st.floats(0, 5000), st.integers(1, 20)), min_size=1, max_size=30),
)
def test_reserved_work_never_exceeds_burst_plus_rate_times_time(
    rate: float, steps: list[tuple[float, int]]
) -> None:
    """Whatever the arrival pattern, what is allowed to start by time t is at most burst + rate*t."""
    bucket = TokenBucket.full(rate, now_ms=0)
    now = 0.0
    starts: list[tuple[float, int]] = []
    for gap, n in steps:
        now += gap
        bucket, wait = bucket.reserve(now, n)
        assert wait >= 0
        starts.append((now + wait, n))
    for t, _ in starts:
        started = sum(n for s, n in starts if s <= t)
        assert started <= bucket.capacity + rate * t / 1000 + 1e-6 * (1 + t)


@given(st.floats(0, 10**9))
def test_a_bucket_never_holds_more_than_its_capacity(later: float) -> None:
    bucket = TokenBucket.full(5, now_ms=0).refilled(later)
    assert bucket.tokens == bucket.capacity


def test_keyed_limiter_is_per_key_and_forgets_idle_keys() -> None:
    limiter = KeyedLimiter(per_minute=2, max_keys=2)
    assert limiter.try_take("a", 0)
    assert limiter.try_take("a", 0)
    assert not limiter.try_take("a", 0)
    assert limiter.try_take("b", 0)  # another user is unaffected
    assert limiter.reserve("a", 0) == pytest.approx(30_000)  # 2/min: one every 30 s
    assert len(limiter) == 2
    # a minute later both buckets are full again: a third key evicts them instead of growing
    assert limiter.try_take("c", 120_000)
    assert len(limiter) == 1


def test_workers_enforcing_their_shares_grant_one_limit_in_all() -> None:
    """Two workers, each owning half of the keyed partitions: a user whose requests fall on both
    gets the limit's burst in all, then its rate, never twice either."""
    workers = [KeyedLimiter(per_minute=60), KeyedLimiter(per_minute=60)]
    for worker in workers:
        worker.set_share(0.5, now_ms=0)
    granted_now = sum(worker.try_take("u", 0) for _ in range(100) for worker in workers)
    assert granted_now == 60  # the burst: one minute's worth, split
    a_minute_later = sum(worker.try_take("u", 60_000) for _ in range(100) for worker in workers)
    assert a_minute_later == 60  # refilled at 60/min in all
    assert workers[0].reserve("u", 60_000) == pytest.approx(2_000)  # half the rate here: one per 2 s


def test_a_new_share_keeps_each_bucket_as_full_as_it_was() -> None:
    limiter = KeyedLimiter(per_minute=60)
    assert all(limiter.try_take("u", 0) for _ in range(30))  # half of the burst used
    limiter.set_share(0.5, now_ms=0)
    assert sum(limiter.try_take("u", 0) for _ in range(100)) == 15  # half of the new, halved burst
    assert limiter.share == 0.5
    with pytest.raises(ValueError, match="share"):
        limiter.set_share(0, now_ms=0)


def test_a_bounded_reservation_refuses_past_the_cap_and_takes_nothing() -> None:
    limiter = KeyedLimiter(per_minute=60)  # burst 60, then one a second
    waits = [limiter.reserve("u", 0, max_wait_ms=2_000) for _ in range(64)]
    assert waits[:60] == [0.0] * 60
    assert waits[60:] == [pytest.approx(1_000), pytest.approx(2_000), None, None]
    assert limiter.reserve("u", 1_000, max_wait_ms=2_000) == pytest.approx(2_000)  # refused: nothing queued


@given(
    max_wait=st.floats(0, 10_000),
    steps=st.lists(st.tuples(st.floats(0, 5000), st.integers(1, 5)), min_size=1, max_size=30),
)
def test_a_bounded_reservation_never_waits_past_its_cap(
    max_wait: float, steps: list[tuple[float, int]]
) -> None:
    """Granted waits stay within the cap; a refusal leaves the bucket as a plain refill would."""
    bucket = TokenBucket.full(3, now_ms=0)
    now = 0.0
    for gap, n in steps:
        now += gap
        after, wait = bucket.reserve_within(now, max_wait, n)
        if wait is None:
            assert after == bucket.refilled(now)
        else:
            assert 0 <= wait <= max_wait
        bucket = after


# --- circuit breaker -----------------------------------------------------------------------------


def run(breaker: Breaker, outcomes: list[bool], at: float = 0) -> Breaker:
    for ok in outcomes:
        breaker = breaker.record(at, ok)
    return breaker


def test_closed_until_the_error_rate_over_enough_calls_reaches_the_threshold() -> None:
    breaker = run(Breaker(CONFIG), [False, False, False])
    assert breaker.state is BreakerState.CLOSED  # too few calls to judge
    breaker = run(breaker, [False])
    assert breaker.state is BreakerState.OPEN
    assert run(Breaker(CONFIG), [True, True, True, False, True]).state is BreakerState.CLOSED


def test_open_rejects_then_lets_one_probe_through_and_closes_on_success() -> None:
    breaker = run(Breaker(CONFIG), [False] * 4, at=1_000)
    breaker, allowed = breaker.allow(2_000)
    assert not allowed
    breaker, allowed = breaker.allow(6_000)
    assert allowed
    assert breaker.state is BreakerState.HALF_OPEN
    breaker, second = breaker.allow(6_001)
    assert not second  # one probe at a time
    breaker = breaker.record(6_100, ok=True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(6_200)[1]


def test_a_failed_probe_opens_again_for_another_period() -> None:
    breaker = run(Breaker(CONFIG), [False] * 4, at=0)
    breaker, _ = breaker.allow(5_000)
    breaker = breaker.record(5_050, ok=False)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(9_000)[1]
    assert breaker.allow(10_050)[1]


def test_a_lost_probe_is_replaced_after_open_ms() -> None:
    breaker = run(Breaker(CONFIG), [False] * 4, at=0)
    breaker, _ = breaker.allow(5_000)  # the probe never reports back (cancelled call)
    assert not breaker.allow(9_999)[1]
    assert breaker.allow(10_000)[1]


def test_old_failures_leave_the_window() -> None:
    breaker = run(Breaker(CONFIG), [False, False, False], at=0)
    breaker = run(breaker, [True], at=20_000)  # the failures are 20 s old: outside the 10 s window
    breaker = run(breaker, [False], at=20_001)
    assert breaker.state is BreakerState.CLOSED


@given(st.lists(st.tuples(st.floats(0, 100), st.booleans()), max_size=60))
def test_the_breaker_state_machine_only_takes_legal_steps(events: list[tuple[float, bool]]) -> None:
    breaker = Breaker(CONFIG)
    now = 0.0
    for gap, ok in events:
        now += gap * 100
        before = breaker.state
        breaker, allowed = breaker.allow(now)
        if before is BreakerState.CLOSED:
            assert allowed
        if not allowed:
            assert breaker.state is not BreakerState.CLOSED
            continue
        breaker = breaker.record(now, ok)
        if before is BreakerState.CLOSED and breaker.state is BreakerState.OPEN:
            assert not ok  # only a failure can open a closed breaker
        if breaker.state is BreakerState.CLOSED:
            assert len(breaker.outcomes) <= CONFIG.max_samples
