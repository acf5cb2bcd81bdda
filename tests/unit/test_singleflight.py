"""InFlight (single-flight bookkeeping) and the retry helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.retry import backoff_ms
from linguaflow.streams.singleflight import InFlight

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
