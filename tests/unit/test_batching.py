"""split_to_limits and BatchAccumulator: pure batching with time passed in."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.streams.batching import BatchAccumulator, group_key, split_to_limits
from linguaflow.streams.providers.base import ProviderLimits, TranslationJob


def job(
    key: str,
    text: str = "hello",
    *,
    target: str = "de",
    fmt: str = "text",
    context: str | None = None,
    formality: str = "default",
    glossary: str | None = None,
    source: str = "en",
) -> TranslationJob:
    return TranslationJob(key, text, source, target, fmt, formality, glossary, context)


def keys(batch: list[TranslationJob]) -> list[str]:
    return [j.cache_key for j in batch]


# --- split_to_limits -----------------------------------------------------------------------------


def test_split_by_count() -> None:
    jobs = [job(str(i), "ab") for i in range(5)]
    batches = split_to_limits(jobs, ProviderLimits(max_texts=2, max_chars=100))
    assert [keys(b) for b in batches] == [["0", "1"], ["2", "3"], ["4"]]


def test_split_by_chars() -> None:
    jobs = [job("a", "xxxx"), job("b", "xxxx"), job("c", "xx"), job("d", "x")]
    batches = split_to_limits(jobs, ProviderLimits(max_texts=10, max_chars=8))
    assert [keys(b) for b in batches] == [["a", "b"], ["c", "d"]]


def test_oversize_job_travels_alone() -> None:
    jobs = [job("a", "x"), job("big", "x" * 50), job("b", "x")]
    batches = split_to_limits(jobs, ProviderLimits(max_texts=10, max_chars=10))
    assert [keys(b) for b in batches] == [["a"], ["big"], ["b"]]


def test_split_nothing() -> None:
    assert split_to_limits([], ProviderLimits(max_texts=3, max_chars=3)) == []


jobs_strategy = st.lists(st.integers(min_value=0, max_value=30), max_size=40).map(
    lambda sizes: [job(f"k{i}", "x" * n) for i, n in enumerate(sizes)]
)
limits_strategy = st.builds(
    ProviderLimits, max_texts=st.integers(min_value=1, max_value=6), max_chars=st.integers(1, 60)
)


@given(jobs=jobs_strategy, limits=limits_strategy)
def test_split_keeps_order_and_respects_limits(jobs: list[TranslationJob], limits: ProviderLimits) -> None:
    batches = split_to_limits(jobs, limits)
    assert [j for b in batches for j in b] == jobs
    for batch in batches:
        assert 1 <= len(batch) <= limits.max_texts
        assert sum(len(j.text) for j in batch) <= limits.max_chars or len(batch) == 1


@given(jobs=jobs_strategy, limits=limits_strategy)
def test_split_is_greedy(jobs: list[TranslationJob], limits: ProviderLimits) -> None:
    """A batch is only closed when the next job would not fit in it."""
    batches = split_to_limits(jobs, limits)
    for batch, following in pairwise(batches):
        nxt = following[0]
        full = len(batch) >= limits.max_texts
        too_big = sum(len(j.text) for j in batch) + len(nxt.text) > limits.max_chars
        assert full or too_big


# --- BatchAccumulator ----------------------------------------------------------------------------

LIMITS = ProviderLimits(max_texts=3, max_chars=20)


def test_fills_to_max_texts_then_ready() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=100)
    assert acc.add(job("a"), now_ms=0) == []
    assert acc.add(job("b"), now_ms=1) == []
    assert len(acc) == 2
    ready = acc.add(job("c"), now_ms=2)
    assert [keys(b) for b in ready] == [["a", "b", "c"]]
    assert len(acc) == 0
    assert acc.next_deadline() is None


def test_reaching_the_char_limit_exactly_releases_the_group() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=100)
    assert acc.add(job("a", "x" * 10), now_ms=0) == []
    ready = acc.add(job("b", "x" * 10), now_ms=0)
    assert [keys(b) for b in ready] == [["a", "b"]]
    assert len(acc) == 0


def test_a_job_that_would_overflow_chars_closes_the_group_and_starts_a_new_one() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=100)
    acc.add(job("a", "x" * 15), now_ms=0)
    ready = acc.add(job("b", "x" * 10), now_ms=5)
    assert [keys(b) for b in ready] == [["a"]]
    assert len(acc) == 1
    # the new group opened when "b" arrived
    assert acc.next_deadline() == 105


def test_an_oversize_job_is_released_alone_at_once() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=100)
    ready = acc.add(job("huge", "x" * 50), now_ms=0)
    assert [keys(b) for b in ready] == [["huge"]]
    assert len(acc) == 0


def test_an_oversize_job_after_a_partial_group_releases_both_separately() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=100)
    acc.add(job("a", "x"), now_ms=0)
    ready = acc.add(job("huge", "x" * 50), now_ms=1)
    assert [keys(b) for b in ready] == [["a"], ["huge"]]
    assert len(acc) == 0


def test_linger() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=50)
    acc.add(job("a"), now_ms=1_000)
    acc.add(job("b"), now_ms=1_030)
    assert acc.next_deadline() == 1_050
    assert acc.due(now_ms=1_000) == []
    assert acc.due(now_ms=1_049.9) == []
    assert len(acc) == 2
    assert [keys(b) for b in acc.due(now_ms=1_050)] == [["a", "b"]]
    assert len(acc) == 0
    assert acc.due(now_ms=5_000) == []
    assert acc.next_deadline() is None


def test_linger_zero_is_due_immediately() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=0)
    acc.add(job("a"), now_ms=7)
    assert acc.next_deadline() == 7
    assert [keys(b) for b in acc.due(now_ms=7)] == [["a"]]


def test_next_deadline_is_the_oldest_group() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=10)
    assert acc.next_deadline() is None
    acc.add(job("fr", target="fr"), now_ms=300)
    acc.add(job("de", target="de"), now_ms=100)
    acc.add(job("it", target="it"), now_ms=200)
    assert acc.next_deadline() == 110
    released = acc.due(now_ms=215)
    assert sorted(keys(b)[0] for b in released) == ["de", "it"]
    assert acc.next_deadline() == 310


def test_groups_are_separate_by_everything_a_provider_call_shares() -> None:
    acc = BatchAccumulator(ProviderLimits(max_texts=2, max_chars=1_000), linger_ms=10)
    variants = [
        job("base"),
        job("target", target="fr"),
        job("format", fmt="html"),
        job("context", context="button"),
        job("formality", formality="more"),
        job("glossary", glossary="g@1"),
        job("source", source="es"),
    ]
    for v in variants:
        assert acc.add(v, now_ms=0) == []  # each is alone in its own group: none is full
    assert len({group_key(v) for v in variants}) == len(variants)
    assert len(acc) == len(variants)
    # a second job in the html group fills exactly that group
    ready = acc.add(job("format-2", fmt="html"), now_ms=1)
    assert [keys(b) for b in ready] == [["format", "format-2"]]


def test_none_and_empty_context_share_a_group() -> None:
    assert group_key(job("a", context=None)) == group_key(job("b", context=""))


def test_drain_returns_everything_and_empties() -> None:
    acc = BatchAccumulator(LIMITS, linger_ms=1_000)
    acc.add(job("a"), now_ms=0)
    acc.add(job("b", target="fr"), now_ms=0)
    acc.add(job("c"), now_ms=0)
    drained = acc.drain()
    assert sorted(keys(b) for b in drained) == [["a", "c"], ["b"]]
    assert len(acc) == 0
    assert acc.next_deadline() is None
    assert acc.drain() == []


@given(
    sizes=st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["de", "fr"]), st.integers(0, 100)), max_size=40
    ),
    limits=limits_strategy,
    linger=st.integers(0, 50),
)
def test_every_job_comes_out_exactly_once_within_limits(
    sizes: list[tuple[int, str, int]], limits: ProviderLimits, linger: int
) -> None:
    acc = BatchAccumulator(limits, linger_ms=linger)
    jobs = [job(f"k{i}", "x" * n, target=t) for i, (n, t, _) in enumerate(sizes)]
    out: list[list[TranslationJob]] = []
    now = 0
    for j, (_, _, step) in zip(jobs, sizes, strict=True):
        now += step
        out.extend(acc.add(j, now_ms=now))
        out.extend(acc.due(now_ms=now))
    out.extend(acc.drain())
    assert sorted(j.cache_key for b in out for j in b) == sorted(j.cache_key for j in jobs)
    for batch in out:
        assert batch
        assert len(batch) <= limits.max_texts
        assert sum(len(j.text) for j in batch) <= limits.max_chars or len(batch) == 1
        assert len({group_key(j) for j in batch}) == 1
        # order within a batch is arrival order
        assert [int(j.cache_key[1:]) for j in batch] == sorted(int(j.cache_key[1:]) for j in batch)
