"""InFlight (single-flight bookkeeping) and the retry helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.errors import InvalidRequest, ProviderError
from streams.retry import backoff_ms, with_retries
from streams.singleflight import InFlight

# --- InFlight ------------------------------------------------------------------------------------


def test_first_join_starts_the_call_and_later_ones_wait() -> None:
    flight: InFlight[str] = InFlight()
    assert flight.join("k", "w1") is True
    assert flight.join("k", "w2") is False
    assert flight.join("k", "w3") is False
    assert "k" in flight
    assert len(flight) == 1
    assert flight.waiting() == 3


def test_complete_hands_back_waiters_first_one_first_and_forgets_the_key() -> None:
    flight: InFlight[str] = InFlight()
    flight.join("k", "w1")
    flight.join("k", "w2")
    flight.join("other", "x")
    assert flight.complete("k") == ["w1", "w2"]
    assert "k" not in flight
    assert len(flight) == 1
    assert flight.waiting() == 1
    # after completion the next join for the key starts a new call
    assert flight.join("k", "w3") is True


def test_complete_of_an_unknown_key_is_empty() -> None:
    flight: InFlight[str] = InFlight()
    assert flight.complete("nope") == []
    assert len(flight) == 0
    assert flight.waiting() == 0


ops = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.sampled_from("abc"), st.integers(0, 1_000)),
        st.tuples(st.just("complete"), st.sampled_from("abcd"), st.just(0)),
    ),
    max_size=60,
)


@given(ops=ops)
def test_in_flight_matches_a_simple_model(ops: list[tuple[str, str, int]]) -> None:
    flight: InFlight[int] = InFlight()
    model: dict[str, list[int]] = {}
    for op, key, waiter in ops:
        if op == "join":
            expected_first = key not in model
            model.setdefault(key, []).append(waiter)
            assert flight.join(key, waiter) is expected_first
        else:
            assert flight.complete(key) == model.pop(key, [])
        assert len(flight) == len(model)
        assert flight.waiting() == sum(len(w) for w in model.values())
        for k in "abcd":
            assert (k in flight) == (k in model)


# --- backoff_ms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 100.0), (2, 200.0), (3, 400.0), (4, 800.0), (5, 1_000.0), (30, 1_000.0)],
)
def test_backoff_upper_bound_doubles_then_caps(attempt: int, expected: float) -> None:
    assert backoff_ms(attempt, base_ms=100, cap_ms=1_000, rand=lambda: 1.0) == expected


@pytest.mark.parametrize("attempt", [1, 2, 10])
def test_backoff_lower_bound_is_zero(attempt: int) -> None:
    assert backoff_ms(attempt, base_ms=100, cap_ms=1_000, rand=lambda: 0.0) == 0.0


def test_backoff_is_scaled_by_the_random_draw() -> None:
    assert backoff_ms(3, base_ms=100, cap_ms=1_000, rand=lambda: 0.25) == 100.0


@given(
    attempt=st.integers(1, 80),
    base=st.floats(0, 10_000),
    cap=st.floats(0, 100_000),
    draw=st.floats(0, 1),
)
def test_backoff_within_full_jitter_bounds(attempt: int, base: float, cap: float, draw: float) -> None:
    delay = backoff_ms(attempt, base_ms=base, cap_ms=cap, rand=lambda: draw)
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1))


# --- with_retries --------------------------------------------------------------------------------


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``value``."""

    def __init__(self, failures: int, error: Exception, value: str = "ok") -> None:
        self.failures = failures
        self.error = error
        self.value = value
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.value


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_succeeds_after_retriable_failures() -> None:
    call = Flaky(2, ProviderError("busy", retriable=True))
    sleep = Sleeps()
    retries: list[tuple[int, str]] = []
    result = await with_retries(
        call,
        attempts=4,
        base_ms=100,
        cap_ms=1_000,
        sleep=sleep,
        on_retry=lambda n, exc: retries.append((n, str(exc))),
    )
    assert result == "ok"
    assert call.calls == 3
    assert retries == [(1, "busy"), (2, "busy")]
    assert len(sleep.delays) == 2
    # full jitter in seconds: retry n sleeps within [0, base * 2**(n-1)] ms
    assert 0.0 <= sleep.delays[0] <= 0.1
    assert 0.0 <= sleep.delays[1] <= 0.2


async def test_first_success_does_not_sleep_or_retry() -> None:
    call = Flaky(0, ProviderError("never"))
    sleep = Sleeps()
    retries: list[int] = []
    result = await with_retries(
        call, attempts=3, base_ms=10, cap_ms=10, sleep=sleep, on_retry=lambda n, e: retries.append(n)
    )
    assert result == "ok"
    assert call.calls == 1
    assert sleep.delays == []
    assert retries == []


async def test_non_retriable_error_stops_immediately() -> None:
    error = ProviderError("bad key", retriable=False)
    call = Flaky(5, error)
    sleep = Sleeps()
    retries: list[int] = []
    with pytest.raises(ProviderError) as info:
        await with_retries(
            call, attempts=5, base_ms=10, cap_ms=10, sleep=sleep, on_retry=lambda n, e: retries.append(n)
        )
    assert info.value is error
    assert call.calls == 1
    assert sleep.delays == []
    assert retries == []


async def test_invalid_request_is_not_retried() -> None:
    call = Flaky(5, InvalidRequest("nope", reason="schema"))
    with pytest.raises(InvalidRequest):
        await with_retries(call, attempts=5, base_ms=10, cap_ms=10, sleep=Sleeps())
    assert call.calls == 1


async def test_raises_the_last_error_after_attempts_are_used_up() -> None:
    call = Flaky(10, ProviderError("busy", retriable=True))
    sleep = Sleeps()
    retries: list[int] = []
    with pytest.raises(ProviderError, match="busy"):
        await with_retries(
            call, attempts=3, base_ms=0, cap_ms=0, sleep=sleep, on_retry=lambda n, e: retries.append(n)
        )
    assert call.calls == 3
    assert retries == [1, 2]
    assert sleep.delays == [0.0, 0.0]


async def test_other_exceptions_are_not_caught() -> None:
    call = Flaky(1, RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        await with_retries(call, attempts=3, base_ms=0, cap_ms=0, sleep=Sleeps())
    assert call.calls == 1


async def test_one_attempt_means_no_retry() -> None:
    call = Flaky(1, ProviderError("busy", retriable=True))
    with pytest.raises(ProviderError):
        await with_retries(call, attempts=1, base_ms=0, cap_ms=0, sleep=Sleeps())
    assert call.calls == 1


@given(failures=st.integers(0, 6), attempts=st.integers(1, 6))
async def test_calls_equal_min_of_failures_plus_one_and_attempts(failures: int, attempts: int) -> None:
    call = Flaky(failures, ProviderError("busy", retriable=True))
    sleep = Sleeps()
    try:
        result = await with_retries(call, attempts=attempts, base_ms=1, cap_ms=4, sleep=sleep)
    except ProviderError:
        assert failures >= attempts
        assert call.calls == attempts
    else:
        assert result == "ok"
        assert failures < attempts
        assert call.calls == failures + 1
    assert len(sleep.delays) == call.calls - 1
    assert all(0.0 <= d <= 0.004 for d in sleep.delays)
