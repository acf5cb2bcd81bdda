"""Pure replay decisions: window parsing, spans per partition (resume), cost estimate, pacing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linguaflow.errors import ConfigError
from linguaflow.replay.plan import (
    Pacer,
    ReplayItem,
    Span,
    Window,
    estimate,
    parse_offsets,
    parse_rate,
    parse_when,
    spans,
)


def test_parse_when_offsets_and_rate() -> None:
    assert parse_when("1700000000000") == 1_700_000_000_000
    assert parse_when("2026-11-23T10:00:00Z") == parse_when("2026-11-23T11:00:00+01:00")
    assert parse_offsets("0:12, 3:0") == {0: 12, 3: 0}
    assert parse_rate("200/s") == parse_rate("200") == 200.0
    for bad in ("yesterday", "2026-11-23T10:00:00"):
        with pytest.raises(ConfigError):
            parse_when(bad)
    for bad in ("", "0", "a:1", "0:-1"):
        with pytest.raises(ConfigError):
            parse_offsets(bad)
    for bad in ("0", "-5/s", "fast", "inf"):
        with pytest.raises(ConfigError):
            parse_rate(bad)


partition_state = st.tuples(st.integers(0, 50), st.integers(0, 50)).map(lambda t: (min(t), max(t)))
maybe_offset = st.one_of(st.none(), st.integers(0, 120))


maybe_offsets = st.one_of(st.none(), st.dictionaries(st.integers(0, 5), maybe_offset))
windows = st.one_of(
    st.builds(
        Window,
        from_offsets=st.dictionaries(st.integers(0, 5), st.integers(0, 120)),
        to_time_offsets=maybe_offsets,
    ),
    st.builds(Window, from_time_offsets=maybe_offsets, to_time_offsets=maybe_offsets),
)


@given(
    st.dictionaries(st.integers(0, 5), partition_state, min_size=1),
    st.dictionaries(st.integers(0, 5), maybe_offset),
    windows,
    st.booleans(),
)
def test_spans_stay_inside_the_log_and_resume_never_goes_back(
    bounds: dict[int, tuple[int, int]], committed: dict[int, int | None], window: Window, restart: bool
) -> None:
    beginning = {p: b for p, (b, _) in bounds.items()}
    end = {p: e for p, (_, e) in bounds.items()}
    result = spans(window, beginning=beginning, end=end, committed=committed, restart=restart)
    fresh = spans(window, beginning=beginning, end=end, committed={}, restart=False)
    assert set(result) == set(bounds)
    for p, span in result.items():
        assert beginning[p] <= span.start <= span.stop <= end[p]
        assert span.start >= fresh[p].start
        assert span.stop == max(span.start, fresh[p].stop)  # resuming never moves the end
        done = committed.get(p)
        if done is not None and not restart:
            assert span.start >= min(done, end[p])
        if restart:
            assert span == fresh[p]


def test_spans_of_a_window() -> None:
    beginning, end = {0: 0, 1: 10}, {0: 100, 1: 20}
    whole = spans(Window(), beginning=beginning, end=end, committed={}, restart=False)
    assert whole == {0: Span(0, 100), 1: Span(10, 20)}
    explicit = spans(Window(from_offsets={0: 40}), beginning=beginning, end=end, committed={}, restart=False)
    assert explicit == {0: Span(40, 100), 1: Span(20, 20)}  # partition 1 not named: not read
    timed = Window(from_time_offsets={0: 5, 1: None}, to_time_offsets={0: 50, 1: None})
    assert spans(timed, beginning=beginning, end=end, committed={}, restart=False) == {
        0: Span(5, 50),
        1: Span(20, 20),
    }
    resumed = spans(Window(), beginning=beginning, end=end, committed={0: 70, 1: None}, restart=False)
    assert resumed == {0: Span(70, 100), 1: Span(10, 20)}


items = st.lists(
    st.builds(
        ReplayItem, st.sampled_from("abcdefgh"), st.integers(1, 100), st.sampled_from(["deepl", "libre"])
    )
)


@given(items, st.sets(st.sampled_from("abcdefgh")), st.booleans(), st.integers(1, 4))
def test_estimate_translates_each_uncached_key_once(
    planned: list[ReplayItem], cached: set[str], refresh: bool, batch_max: int
) -> None:
    prices = {"deepl": 25e-6, "libre": 0.0}
    result = estimate(
        planned, cached, refresh=refresh, batch_max=batch_max, price_per_char=prices.__getitem__
    )
    keys = {i.cache_key for i in planned}
    translated = keys if refresh else keys - cached
    first = {}
    for item in planned:
        first.setdefault(item.cache_key, item)
    assert result.requests == len(planned)
    assert result.cached == sum(i.cache_key in cached for i in planned)
    assert result.unique_keys == len(keys)
    assert result.provider_texts == len(translated)
    assert math.isclose(result.cost, sum(first[k].chars * prices[first[k].provider] for k in translated))
    assert math.ceil(len(translated) / batch_max) <= result.provider_calls <= len(translated)


def test_pacer_spreads_records_at_the_rate() -> None:
    pacer = Pacer(100, now_ms=0)
    assert pacer.wait_ms(100, 0) == 0  # a one-second burst
    assert pacer.wait_ms(50, 0) == pytest.approx(500)
    assert Pacer(None, 0).wait_ms(10**6, 0) == 0
