"""DedupEngine with in-memory fakes: a dict cache, a recording outbox, a counting provider and a
fake clock. ``engine.drain()`` is how a test waits for provider calls; ``settle()`` lets the
already-scheduled delivery callbacks (acks) run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from linguaflow.errors import ProviderError
from linguaflow.schemas import DeadLetter, TranslationResult, cache_key, decode_cache_entry, decode_request
from linguaflow.schemas.dlq import header_map
from linguaflow.streams.dedup import DedupEngine, EngineConfig
from linguaflow.streams.keying import KeyedRequest, Origin
from linguaflow.streams.providers.base import (
    PartialTranslation,
    ProviderLimits,
    Translated,
    TranslationJob,
    answer,
)
from linguaflow.streams.ttl import TtlPolicy
from linguaflow.telemetry import Telemetry

T0 = 1_700_000_000_000.0
COST_PER_CHAR = 0.001


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms


class FakeOutbox:
    """Records what the engine sends. ``hold=True``: deliveries wait until the test resolves
    ``futures`` (one per result or dead letter, in order)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self.results: list[TranslationResult] = []
        self.letters: list[tuple[bytes, DeadLetter]] = []
        self.futures: list[asyncio.Future[Any]] = []

    def _future(self) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.hold:
            fut.set_result(None)
        self.futures.append(fut)
        return fut

    def result(self, result: TranslationResult, ack: Callable[[], None]) -> None:
        """Like the BatchSender: ``ack`` once delivered; a failure is the sender's (not acked)."""
        self.results.append(result)
        self._future().add_done_callback(
            lambda f: None if f.cancelled() or f.exception() is not None else ack()
        )

    async def dead_letter(self, value: bytes, letter: DeadLetter) -> asyncio.Future[Any]:
        self.letters.append((value, letter))
        return self._future()


class CountingProvider:
    """Implements the Provider protocol; ``behaviour`` can replace what translate() does."""

    name = "counting"
    model_version = "counting/1"
    limits = ProviderLimits(max_texts=10, max_chars=1_000)
    cost_per_char = COST_PER_CHAR

    def __init__(
        self, behaviour: Callable[[Sequence[TranslationJob]], list[Translated]] | None = None
    ) -> None:
        self.batches: list[list[TranslationJob]] = []
        self.behaviour = behaviour
        self.closed = False

    @property
    def texts(self) -> list[str]:
        return [j.text for b in self.batches for j in b]

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        self.batches.append(list(batch))
        if self.behaviour is not None:
            return self.behaviour(batch)
        return [answer(self, j, f"<{j.target_lang}>{j.text}", len(j.text)) for j in batch]

    async def close(self) -> None:
        self.closed = True


class Acks:
    def __init__(self) -> None:
        self.done: list[str] = []

    def __call__(self, name: str) -> Callable[[], None]:
        return lambda: self.done.append(name)


async def settle() -> None:
    """Run callbacks already scheduled on the loop (no wall-clock waiting)."""
    for _ in range(5):
        await asyncio.sleep(0)


def ok(job: TranslationJob, text: str) -> Translated:
    return answer(CountingProvider(), job, text, len(job.text))


def keyed(request_id: str, text: str = "Hello", *, offset: int = 0, **fields: Any) -> KeyedRequest:
    data = {"request_id": request_id, "text": text, "target_lang": "de", "user": "u", **fields}
    request = decode_request(orjson.dumps(data), max_text_chars=1_000, now_ms=int(T0) - 250)
    key = cache_key(request, CountingProvider.model_version)
    return KeyedRequest(
        key, request, Origin("translation.requests", 2, offset), traceparent=f"tp-{request_id}"
    )


class Harness:
    def __init__(
        self,
        provider: CountingProvider | None = None,
        *,
        hold: bool = False,
        linger_ms: float = 1_000,
        **limits: Any,
    ) -> None:
        self.provider = provider or CountingProvider()
        self.cache: dict[str, bytes] = {}
        self.outbox = FakeOutbox(hold=hold)
        self.clock = FakeClock()
        self.telemetry = Telemetry()
        self.fatal: list[BaseException] = []
        self.acks = Acks()
        self.engine = DedupEngine(
            self.provider,
            self.cache,
            self.outbox,
            EngineConfig(linger_ms=linger_ms, max_inflight_batches=2, **limits),
            clock=self.clock,
            telemetry=self.telemetry,
            on_fatal=self.fatal.append,
            sleep=self.sleep,
        )
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def send(self, request: KeyedRequest) -> None:
        await self.engine.on_request(request, self.acks(request.request.request_id))


async def test_a_refresh_request_skips_the_cache_and_its_newer_version_replaces_the_entry() -> None:
    h = Harness()
    await h.send(keyed("r1"))
    await h.engine.drain()
    old = decode_cache_entry(h.cache[keyed("r1").cache_key])
    h.clock.advance(1_000)
    h.provider.behaviour = lambda batch: [ok(j, "<de>Neu") for j in batch]
    await h.send(keyed("r2", refresh=True))  # same key, cached: asked again all the same
    await h.send(keyed("r3", offset=1))  # a plain duplicate meanwhile still gets the cached answer
    await h.engine.drain()
    await h.send(keyed("r4", offset=2))  # afterwards: a hit on the new entry
    await settle()

    assert len(h.provider.batches) == 2
    new = decode_cache_entry(h.cache[keyed("r1").cache_key])
    assert (new.translated_text, new.version > old.version) == ("<de>Neu", True)
    outcomes = {r.request_id: (r.outcome, r.translated_text) for r in h.outbox.results}
    assert outcomes == {
        "r1": ("miss", "<de>Hello"),
        "r2": ("miss", "<de>Neu"),
        "r3": ("hit", "<de>Hello"),
        "r4": ("hit", "<de>Neu"),
    }
    assert keyed("r2", refresh=True).cache_key == keyed("r1").cache_key  # refresh is not in the key


async def test_an_expired_entry_is_deleted_and_asked_again_and_the_sweep_deletes_the_rest() -> None:
    h = Harness(ttl=TtlPolicy(short_s=60, tenants={"vip": 0}))
    await h.send(keyed("e1"))
    await h.send(keyed("v1", "Bye", tenant="vip", offset=1))  # never expires
    await h.send(keyed("x1", "Later", offset=2))
    await h.engine.drain()
    h.clock.advance(59_999)
    await h.send(keyed("e2", offset=3))  # still fresh: a hit
    h.clock.advance(1)
    assert h.engine.evict_expired() == 2  # "Hello" and "Later" (created with the same clock)
    assert set(h.cache) == {keyed("v1", "Bye", tenant="vip").cache_key}
    await h.send(keyed("e3", offset=4))  # gone: a miss, translated again
    await h.engine.drain()
    await settle()
    assert [r.outcome for r in h.outbox.results if r.request_id.startswith("e")] == ["miss", "hit", "miss"]
    assert h.provider.texts == ["Hello", "Bye", "Later", "Hello"]
    assert h.telemetry.snapshot()["cache_expired"] == 2


async def test_a_cache_hit_past_its_ttl_is_a_miss_and_replaces_the_entry() -> None:
    h = Harness(ttl=TtlPolicy(short_s=1))
    await h.send(keyed("a"))
    await h.engine.drain()
    h.clock.advance(1_000)
    await h.send(keyed("b", offset=1))
    await h.engine.drain()
    await settle()
    assert [r.outcome for r in h.outbox.results] == ["miss", "miss"]
    assert h.provider.texts == ["Hello", "Hello"]
    assert h.telemetry.snapshot()["cache_expired"] == 1
    assert decode_cache_entry(h.cache[keyed("a").cache_key]).created_at == T0 + 1_000


async def test_miss_then_coalesced_then_hit_calls_the_provider_once() -> None:
    h = Harness()
    a1, a2, a3 = keyed("a1"), keyed("a2", offset=1), keyed("a3", offset=2)
    assert a1.cache_key == a2.cache_key == a3.cache_key

    await h.send(a1)
    await h.send(a2)  # same key while the first is pending: coalesced
    assert h.engine.keys_in_flight == 1
    assert h.provider.batches == []
    await h.engine.drain()
    h.clock.advance(10)
    await h.send(a3)  # after completion: a cache hit
    await settle()

    assert h.provider.texts == ["Hello"]
    assert h.engine.keys_in_flight == 0
    by_id = {r.request_id: r for r in h.outbox.results}
    assert [r.request_id for r in h.outbox.results] == ["a1", "a2", "a3"]
    assert [r.outcome for r in h.outbox.results] == ["miss", "coalesced", "hit"]

    miss, coalesced, hit = by_id["a1"], by_id["a2"], by_id["a3"]
    assert (miss.billed_chars, miss.cost) == (5, 0.005)
    assert (coalesced.billed_chars, coalesced.cost) == (0, 0.0)
    assert (hit.billed_chars, hit.cost) == (0, 0.0)
    assert {r.translated_text for r in h.outbox.results} == {"<de>Hello"}
    assert miss.provider == "counting"
    assert miss.model == "counting/1"
    assert miss.traceparent == "tp-a1"
    assert hit.traceparent == "tp-a3"
    assert miss.latency_ms == 250
    assert hit.latency_ms == 260
    # every result carries the version of the one cache entry
    assert miss.version == coalesced.version == hit.version == int(T0 * 1000)

    entry = decode_cache_entry(h.cache[a1.cache_key])
    assert entry.translated_text == "<de>Hello"
    assert entry.billed_chars == 5
    assert entry.cost == 0.005
    assert list(h.cache) == [a1.cache_key]

    assert sorted(h.acks.done) == ["a1", "a2", "a3"]
    assert h.fatal == []
    stats = h.telemetry.snapshot()
    assert stats["requests_in"] == 3
    assert stats["results.outcome.miss"] == 1
    assert stats["results.outcome.coalesced"] == 1
    assert stats["results.outcome.hit"] == 1


async def test_distinct_keys_share_one_provider_batch() -> None:
    h = Harness()
    await h.send(keyed("a", "one"))
    await h.send(keyed("b", "two", offset=1))
    await h.send(keyed("c", "one", offset=2))  # coalesces with "a"
    await h.engine.drain()
    await settle()
    assert [[j.text for j in b] for b in h.provider.batches] == [["one", "two"]]
    assert sorted((r.request_id, r.outcome) for r in h.outbox.results) == [
        ("a", "miss"),
        ("b", "miss"),
        ("c", "coalesced"),
    ]
    assert len(h.cache) == 2


async def test_a_full_group_is_launched_without_waiting_for_linger() -> None:
    provider = CountingProvider()
    provider.limits = ProviderLimits(max_texts=2, max_chars=1_000)
    h = Harness(provider)
    await h.send(keyed("a", "one"))
    await h.send(keyed("b", "two"))
    await settle()  # no drain: the batch was full
    assert provider.texts == ["one", "two"]
    assert sorted(r.request_id for r in h.outbox.results) == ["a", "b"]


async def test_drain_flushes_a_lingering_batch() -> None:
    h = Harness(linger_ms=60_000)
    await h.send(keyed("a"))
    await settle()
    assert h.provider.batches == []
    assert h.outbox.results == []
    await h.engine.drain()
    await settle()
    assert h.provider.texts == ["Hello"]
    assert [r.request_id for r in h.outbox.results] == ["a"]
    assert h.acks.done == ["a"]


async def test_run_flusher_releases_a_batch_once_its_linger_is_up() -> None:
    h = Harness(linger_ms=50)
    flusher = asyncio.create_task(h.engine.run_flusher())
    try:
        await settle()
        await h.send(keyed("a"))
        h.clock.advance(50)  # the fake clock says linger is over before the flusher wakes
        await settle()
        await h.engine.drain()
        await settle()
        assert h.provider.texts == ["Hello"]
        assert [r.request_id for r in h.outbox.results] == ["a"]
    finally:
        flusher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flusher


async def test_acks_happen_only_after_delivery() -> None:
    h = Harness(hold=True)
    await h.send(keyed("a1"))
    await h.send(keyed("a2"))
    await h.engine.drain()
    await settle()
    assert [r.request_id for r in h.outbox.results] == ["a1", "a2"]
    assert h.acks.done == []  # produced but not yet acknowledged by the broker

    h.outbox.futures[1].set_result(None)
    await settle()
    assert h.acks.done == ["a2"]
    h.outbox.futures[0].set_result(None)
    await settle()
    assert h.acks.done == ["a2", "a1"]
    assert h.fatal == []


def raise_(exc: Exception) -> Callable[[Sequence[TranslationJob]], list[Translated]]:
    def behaviour(batch: Sequence[TranslationJob]) -> list[Translated]:
        raise exc

    return behaviour


QUOTA = ProviderError("quota exhausted", reason="quota", retriable=False)


async def test_a_failed_dead_letter_delivery_is_fatal_and_not_acked() -> None:
    h = Harness(CountingProvider(raise_(QUOTA)), hold=True)
    await h.send(keyed("a"))
    await h.engine.drain()
    assert len(h.outbox.letters) == 1
    boom = RuntimeError("broker said no")
    h.outbox.futures[0].set_exception(boom)
    await settle()
    assert h.fatal == [boom]
    assert h.acks.done == []


async def test_a_cancelled_dead_letter_delivery_is_fatal_and_not_acked() -> None:
    h = Harness(CountingProvider(raise_(QUOTA)), hold=True)
    await h.send(keyed("a"))
    await h.engine.drain()
    h.outbox.futures[0].cancel()
    await settle()
    assert len(h.fatal) == 1
    assert "cancelled" in str(h.fatal[0])
    assert h.acks.done == []


async def test_non_retriable_provider_error_dead_letters_every_waiter() -> None:
    provider = CountingProvider(raise_(QUOTA))
    h = Harness(provider, hold=True)
    a1, a2, b = keyed("a1", offset=10), keyed("a2", offset=11), keyed("b", "Other", offset=12)
    await h.send(a1)
    await h.send(a2)
    await h.send(b)
    await h.engine.drain()
    await settle()

    assert len(provider.batches) == 1  # retries are the ResilientProvider's business
    assert h.outbox.results == []
    assert h.cache == {}
    assert h.engine.keys_in_flight == 0
    letters = {letter.request_id or "": (value, letter) for value, letter in h.outbox.letters}
    assert sorted(letters) == ["a1", "a2", "b"]
    for req in (a1, a2, b):
        value, letter = letters[req.request.request_id]
        assert letter.reason == "provider_failed"
        assert "counting" in letter.error
        assert "quota" in letter.error
        assert letter.attempts == 1
        assert letter.origin_topic == "translation.requests"
        assert letter.origin_partition == 2
        assert letter.origin_offset == req.origin.offset
        assert letter.first_failed_at == int(T0)
        assert orjson.loads(value)["request_id"] == req.request.request_id
        assert header_map(letter.headers())["error"] == "provider_failed"

    assert h.acks.done == []  # nothing acked before the DLQ records are delivered
    for fut in h.outbox.futures:
        fut.set_result(None)
    await settle()
    assert sorted(h.acks.done) == ["a1", "a2", "b"]
    assert h.telemetry.snapshot()["dlq.reason.provider_failed"] == 3


async def test_a_crashing_provider_dead_letters_and_the_engine_keeps_working() -> None:
    calls = 0

    def crash_once(batch: Sequence[TranslationJob]) -> list[Translated]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("segfault-ish")
        return [ok(j, "ok:" + j.text) for j in batch]

    h = Harness(CountingProvider(crash_once))
    await h.send(keyed("a"))
    await h.engine.drain()
    await settle()
    assert len(h.outbox.letters) == 1
    _, letter = h.outbox.letters[0]
    assert letter.reason == "provider_failed"
    assert "provider_crashed" in letter.error
    assert "segfault-ish" in letter.error
    assert h.acks.done == ["a"]
    assert h.cache == {}
    assert h.fatal == []

    # the same key is not stuck in flight: a new request calls the provider again
    await h.send(keyed("a-again"))
    await h.send(keyed("b", "Other"))
    await h.engine.drain()
    await settle()
    assert calls == 2
    assert sorted((r.request_id, r.outcome, r.translated_text) for r in h.outbox.results) == [
        ("a-again", "miss", "ok:Hello"),
        ("b", "miss", "ok:Other"),
    ]
    assert sorted(h.acks.done) == ["a", "a-again", "b"]


async def test_wrong_number_of_translations_is_dead_lettered() -> None:
    provider = CountingProvider(lambda batch: [])
    h = Harness(provider)
    await h.send(keyed("a"))
    await h.engine.drain()
    await settle()
    assert len(provider.batches) == 1
    assert h.outbox.results == []
    assert len(h.outbox.letters) == 1
    _, letter = h.outbox.letters[0]
    assert letter.reason == "provider_failed"
    assert "provider_bad_response" in letter.error
    assert h.cache == {}


async def test_a_partial_translation_answers_the_done_jobs_and_dead_letters_the_rest() -> None:
    def half(batch: Sequence[TranslationJob]) -> list[Translated]:
        raise PartialTranslation(
            "all providers failed (1 of 2): x: placeholder_mismatch", [ok(batch[0], "A")]
        )

    h = Harness(CountingProvider(half))
    await h.send(keyed("a", "one"))
    await h.send(keyed("a2", "one", offset=1))
    await h.send(keyed("b", "two", offset=2))
    await h.engine.drain()
    await settle()
    assert sorted((r.request_id, r.outcome, r.translated_text) for r in h.outbox.results) == [
        ("a", "miss", "A"),
        ("a2", "coalesced", "A"),
    ]
    assert [(letter.request_id, letter.reason) for _, letter in h.outbox.letters] == [
        ("b", "provider_failed")
    ]
    assert "placeholder_mismatch" in h.outbox.letters[0][1].error
    assert len(h.cache) == 1
    assert h.engine.keys_in_flight == 0
    assert sorted(h.acks.done) == ["a", "a2", "b"]


async def test_over_the_user_limit_in_dlq_mode_goes_to_the_dlq_as_rate_limited() -> None:
    h = Harness(user_requests_per_min=2, rate_limit_mode="dlq")
    for i in range(3):
        await h.send(keyed(f"r{i}", f"text {i}", offset=i))
    await h.send(keyed("dup", "text 0", offset=9))  # coalesced: free, never limited
    await h.send(keyed("other", "text 2", user="someone-else", offset=10))
    await h.engine.drain()
    await settle()
    assert sorted(r.request_id for r in h.outbox.results) == ["dup", "other", "r0", "r1"]
    assert [(letter.request_id, letter.reason) for _, letter in h.outbox.letters] == [("r2", "rate_limited")]
    assert "2 requests/min" in h.outbox.letters[0][1].error
    assert sorted(h.acks.done) == ["dup", "other", "r0", "r1", "r2"]
    assert h.telemetry.snapshot()["user_rate_limited.mode.dlq"] == 1

    h.clock.advance(30_000)  # half a minute refills one request
    await h.send(keyed("later", "text 3", offset=11))
    await h.engine.drain()
    await settle()
    assert "later" in {r.request_id for r in h.outbox.results}


async def test_over_the_user_limit_in_wait_mode_waits_and_loses_nothing() -> None:
    h = Harness(user_requests_per_min=60, rate_limit_mode="wait")
    for i in range(62):
        await h.send(keyed(f"r{i}", f"text {i}", offset=i))
    await settle()  # the delayed ones take their (fake) turn before the drain
    await h.engine.drain()
    await settle()
    assert len(h.outbox.results) == 62
    assert h.outbox.letters == []
    assert h.slept == [pytest.approx(1.0), pytest.approx(2.0)]  # one request a second beyond the burst
    assert h.telemetry.snapshot()["user_rate_limited.mode.wait"] == 2


async def test_in_wait_mode_a_users_queue_is_bounded_and_the_overflow_is_dead_lettered() -> None:
    h = Harness(user_requests_per_min=60, rate_limit_mode="wait", user_max_wait_s=2)
    for i in range(64):  # 60 at once (the burst), 2 wait 1 s and 2 s, 2 would wait longer
        await h.send(keyed(f"r{i}", f"text {i}", offset=i))
    await h.send(keyed("dup", "text 61", offset=99))  # joins a waiting key: free, never limited
    await settle()
    await h.engine.drain()
    await settle()
    assert len(h.outbox.results) == 63
    letters = [(letter.request_id, letter.reason) for _, letter in h.outbox.letters]
    assert letters == [("r62", "rate_limited"), ("r63", "rate_limited")]
    assert "would wait more than 2s" in h.outbox.letters[0][1].error
    assert h.slept == [pytest.approx(1.0), pytest.approx(2.0)]
    counters = h.telemetry.snapshot()
    assert (counters["user_rate_limited.mode.wait"], counters["user_rate_limited.mode.dlq"]) == (2, 2)
    assert len(h.acks.done) == 65  # nothing dropped: every request answered or dead-lettered

    h.clock.advance(60_000)  # the queue has moved on: waiting is allowed again
    await h.send(keyed("later", "text 99", offset=100))
    await settle()
    await h.engine.drain()
    await settle()
    assert "later" in {r.request_id for r in h.outbox.results}


async def test_drain_does_not_wait_for_a_delayed_users_turn() -> None:
    h = Harness(user_requests_per_min=1, rate_limit_mode="wait")
    turns: list[float] = []

    async def a_long_wait(seconds: float) -> None:
        turns.append(seconds)
        await asyncio.Event().wait()  # never ends by itself

    h.engine._sleep = a_long_wait
    await h.send(keyed("first", "one"))
    await h.send(keyed("second", "two", offset=1))  # 60 s later by the limit
    await asyncio.wait_for(h.engine.drain(), timeout=5)  # a rebalance or shutdown
    await settle()
    assert turns == [pytest.approx(60.0)]
    assert sorted(r.request_id for r in h.outbox.results) == ["first", "second"]
    assert sorted(h.acks.done) == ["first", "second"]
    assert h.engine.keys_in_flight == 0


async def test_translations_out_of_order_are_rejected() -> None:
    def reversed_(batch: Sequence[TranslationJob]) -> list[Translated]:
        return [ok(j, j.text) for j in reversed(batch)]

    h = Harness(CountingProvider(reversed_))
    await h.send(keyed("a", "one"))
    await h.send(keyed("b", "two"))
    await h.engine.drain()
    await settle()
    assert h.outbox.results == []
    assert sorted(letter.request_id or "" for _, letter in h.outbox.letters) == ["a", "b"]
    assert h.cache == {}


async def test_a_dead_lettered_request_can_be_replayed() -> None:
    """An operator replays DLQ values into translation.requests, so the value must decode to the same
    request, also for one without ``user`` (the engine re-encodes the request it holds)."""
    h = Harness(CountingProvider(raise_(ProviderError("down", retriable=False))))
    data = {"request_id": "no-user", "text": "Hello", "target_lang": "de"}
    request = decode_request(orjson.dumps(data), max_text_chars=1_000, now_ms=int(T0))
    await h.send(KeyedRequest(cache_key(request, "counting/1"), request, Origin("t", 0, 0)))
    await h.engine.drain()
    value, _ = h.outbox.letters[0]
    assert decode_request(value, max_text_chars=1_000, now_ms=0) == request
