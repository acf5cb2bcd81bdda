"""The dedup engine behind the dedup agent: cache hit -> answer now; key already in flight -> wait
on that call (single-flight); otherwise -> batch it for the provider.

It knows nothing of faust: the cache is a MutableMapping (a faust Table in production), output goes
through an ``Outbox`` (results with the ``ack`` to run on delivery, dead letters with a delivery
future), and ``ack`` callbacks release input offsets only once the result (or DLQ record) for
that request is acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from linguaflow.errors import InvalidRequest, LinguaflowError, ProviderError
from linguaflow.schemas import (
    OUTCOMES,
    CacheEntry,
    DeadLetter,
    TranslationResult,
    decode_cache_entry,
    encode,
    encode_request,
)
from linguaflow.streams.batching import BatchAccumulator
from linguaflow.streams.keying import KeyedRequest, dead_letter
from linguaflow.streams.outcomes import new_entry, result_for
from linguaflow.streams.providers.base import (
    PartialTranslation,
    Provider,
    Translated,
    TranslationJob,
    check_answers,
)
from linguaflow.streams.ratelimit import KeyedLimiter
from linguaflow.streams.singleflight import InFlight
from linguaflow.streams.ttl import TtlPolicy, is_expired
from linguaflow.telemetry import Telemetry

Clock = Callable[[], float]  # epoch milliseconds


class Outbox(Protocol):
    def result(self, result: TranslationResult, ack: Callable[[], None]) -> None:
        """Queue ``result``; ``ack`` runs once the broker has it. A failed delivery is fatal, the
        outbox's own business (``BatchSender``'s ``on_failure``)."""

    async def dead_letter(self, value: bytes, letter: DeadLetter) -> asyncio.Future[Any]: ...


@dataclass(frozen=True, slots=True)
class Waiter:
    keyed: KeyedRequest
    ack: Callable[[], None]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    linger_ms: float
    max_inflight_batches: int
    user_requests_per_min: float = 0  # 0: no per-user limit
    rate_limit_mode: str = "wait"  # over the limit: "wait" (delay the call) or "dlq" (rate_limited)
    user_max_wait_s: float = math.inf  # "wait": a request that would wait longer goes to the DLQ
    ttl: TtlPolicy = field(default_factory=TtlPolicy)  # default: entries never expire


class DedupEngine:
    def __init__(
        self,
        provider: Provider,
        cache: MutableMapping[str, bytes],
        outbox: Outbox,
        config: EngineConfig,
        *,
        clock: Clock,
        telemetry: Telemetry,
        on_fatal: Callable[[BaseException], None],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._provider = provider
        self._cache = cache
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._telemetry = telemetry
        self._on_fatal = on_fatal
        self._sleep = sleep
        self._inflight: InFlight[Waiter] = InFlight()
        self._pending = BatchAccumulator(provider.limits, config.linger_ms)
        self._slots = asyncio.Semaphore(config.max_inflight_batches)
        self._tasks: set[asyncio.Task[None]] = set()
        self._delayed: dict[str, tuple[TranslationJob, asyncio.Task[None]]] = {}  # user's turn
        self._wakeup = asyncio.Event()
        rate = config.user_requests_per_min
        self._users = KeyedLimiter(rate) if rate > 0 else None
        self._count_request = telemetry.counter("requests_in")
        self._count_result = {o: telemetry.counter("results", outcome=o) for o in OUTCOMES}

    @property
    def keys_in_flight(self) -> int:
        return len(self._inflight)

    @property
    def users_waiting(self) -> int:
        """Requests delayed by the per-user limit now."""
        return len(self._delayed)

    @property
    def user_limit_share(self) -> float | None:
        return None if self._users is None else self._users.share

    def share_user_limit(self, share: float) -> None:
        """Enforce ``share`` of the per-user limit: this worker's share of the keyed partitions."""
        if self._users is not None:
            self._users.set_share(share, self._clock())

    def _lookup(self, keyed: KeyedRequest) -> tuple[CacheEntry | None, bool]:
        """(the fresh cache entry for the request, or None; whether an expired one is there)."""
        raw = None if keyed.request.refresh else self._cache.get(keyed.cache_key)
        if raw is None:
            return None, False
        entry = decode_cache_entry(raw)
        if is_expired(self._config.ttl, entry, self._clock()):
            return None, True
        return entry, False

    async def on_request(self, keyed: KeyedRequest, ack: Callable[[], None]) -> None:
        self._count_request()
        waiter = Waiter(keyed, ack)
        entry, expired = self._lookup(keyed)
        if entry is not None:
            self._emit(waiter, entry, cache_hit=True, coalesced=False)
            return
        if expired:
            del self._cache[keyed.cache_key]  # the table writes the tombstone
            self._telemetry.count("cache_expired")
        if not self._inflight.join(keyed.cache_key, waiter):
            return  # coalesced: answered when the call in flight completes
        request = keyed.request
        job = TranslationJob(
            keyed.cache_key,
            request.text,
            request.source_lang,
            request.target_lang,
            request.format,
            request.formality,
            request.glossary,
            request.context,
            request.provider,
        )
        wait_ms = self._user_wait_ms(request.user)
        if wait_ms is None:  # dlq mode, or the user's queue is already USER_MAX_WAIT_S long
            self._telemetry.count("user_rate_limited", mode="dlq")
            limit = f"user {request.user!r} is over {self._config.user_requests_per_min:g} requests/min"
            if self._config.rate_limit_mode == "wait":
                limit += f" and would wait more than {self._config.user_max_wait_s:g}s"
            await self._fail([job], ProviderError(limit, reason="rate_limited"))
        elif wait_ms > 0:
            self._telemetry.count("user_rate_limited", mode="wait")
            task = asyncio.create_task(self._add_later(job, wait_ms / 1000))
            self._delayed[job.cache_key] = (job, task)
            self._track(task)
        else:
            await self._add(job)

    def evict_expired(self) -> int:
        """Delete every expired entry (the table writes the tombstones); return how many."""
        if not self._config.ttl.expires:
            return 0
        now = self._clock()
        expired = []
        for key, raw in list(self._cache.items()):
            try:
                if is_expired(self._config.ttl, decode_cache_entry(raw), now):
                    expired.append(key)
            except InvalidRequest:  # not ours to judge here; a hit on it is what reports it
                self._telemetry.count("cache_unreadable")
        for key in expired:
            del self._cache[key]
        self._telemetry.count("cache_expired", len(expired))
        return len(expired)

    def _user_wait_ms(self, user: str) -> float | None:
        """Per-user limit on requests that need a provider call (hits and coalesced are free):
        ms to wait, or None when the request must go to the DLQ (mode ``dlq``, or a wait longer
        than ``user_max_wait_s``: a busy user's queue is bounded, not their requests dropped)."""
        if self._users is None:
            return 0.0
        if self._config.rate_limit_mode == "dlq":
            return 0.0 if self._users.try_take(user, self._clock()) else None
        return self._users.reserve(user, self._clock(), self._config.user_max_wait_s * 1000)

    async def _add_later(self, job: TranslationJob, delay_s: float) -> None:
        await self._sleep(delay_s)
        del self._delayed[job.cache_key]
        await self._add(job)

    async def _add(self, job: TranslationJob) -> None:
        for batch in self._pending.add(job, self._clock()):
            await self._launch(batch)
        self._wakeup.set()

    async def run_flusher(self) -> None:
        """Release batches whose linger time is up. Runs for the life of the worker."""
        while True:
            deadline = self._pending.next_deadline()
            timeout = None if deadline is None else max(0.0, (deadline - self._clock()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            self._wakeup.clear()
            for batch in self._pending.due(self._clock()):
                await self._launch(batch)

    async def drain(self) -> None:
        """Send everything pending now and wait until every call in flight has answered.

        Requests the user limit delays are sent now too: a rebalance or shutdown must not wait
        minutes for a busy user's turn (the limit protects the steady state, not a hand-over)."""
        while True:
            delayed, self._delayed = list(self._delayed.values()), {}
            for job, task in delayed:
                task.cancel()
                await self._add(job)
            for batch in self._pending.drain():
                await self._launch(batch)
            if not self._tasks:
                return
            outcomes = await asyncio.gather(*list(self._tasks), return_exceptions=True)
            for outcome in outcomes:  # cancelled delays are expected; anything else is not
                if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                    raise outcome

    async def _launch(self, batch: Sequence[TranslationJob]) -> None:
        await self._slots.acquire()  # back-pressure: the agent stops reading while calls are saturated
        self._track(asyncio.create_task(self._call(list(batch))))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, batch: list[TranslationJob]) -> None:
        """One call: retries and fallbacks are the provider's business (``ResilientProvider``)."""
        name = self._provider.name
        # The request that started each key's call: its trace shows the provider call.
        traces = [w.keyed.traceparent for j in batch if (w := self._inflight.first(j.cache_key))]
        try:
            with (
                self._telemetry.timed(
                    "provider_latency", provider=name
                ),  # errors: counted per provider by ResilientProvider
                self._telemetry.spans("provider.translate", traces, provider=name, texts=len(batch)),
            ):
                translated = check_answers(batch, await self._provider.translate(batch))
        except PartialTranslation as exc:
            await self._complete(exc.done)
            await self._fail(batch, ProviderError(f"{name}: {exc}", reason="provider_failed"))
        except LinguaflowError as exc:
            await self._fail(batch, ProviderError(f"{name} ({exc.reason}): {exc}", reason="provider_failed"))
        except Exception as exc:  # a provider bug must not kill the worker nor lose requests
            await self._fail(
                batch, ProviderError(f"{name} (provider_crashed): {exc!r}", reason="provider_failed")
            )
        else:
            await self._complete(translated)
        finally:
            self._slots.release()

    async def _complete(self, translated: list[Translated]) -> None:
        now = self._clock()
        for out in translated:
            waiters = self._inflight.complete(out.cache_key)
            if not waiters:
                continue
            entry = new_entry(waiters[0].keyed.request, out, now_ms=now)
            self._cache[out.cache_key] = encode(entry)
            for i, waiter in enumerate(waiters):
                self._emit(waiter, entry, cache_hit=False, coalesced=i > 0)

    async def _fail(self, batch: list[TranslationJob], problem: LinguaflowError) -> None:
        """Dead-letter every request still waiting on these jobs (the completed ones are gone)."""
        now = int(self._clock())
        for job in batch:
            for waiter in self._inflight.complete(job.cache_key):
                letter = dead_letter(
                    waiter.keyed.origin,
                    problem,
                    now_ms=now,
                    request_id=waiter.keyed.request.request_id,
                )
                self._telemetry.count("dlq", reason=letter.reason)
                fut = await self._outbox.dead_letter(encode_request(waiter.keyed.request), letter)
                self._ack_when_delivered(fut, waiter.ack)

    def _emit(self, waiter: Waiter, entry: CacheEntry, *, cache_hit: bool, coalesced: bool) -> None:
        result = result_for(
            waiter.keyed.request,
            entry,
            cache_hit=cache_hit,
            coalesced=coalesced,
            now_ms=self._clock(),
            traceparent=waiter.keyed.traceparent,
        )
        self._count_result[result.outcome]()
        self._outbox.result(result, waiter.ack)

    def _ack_when_delivered(self, fut: asyncio.Future[Any], ack: Callable[[], None]) -> None:
        def done(f: asyncio.Future[Any]) -> None:
            exc = RuntimeError("delivery cancelled") if f.cancelled() else f.exception()
            if exc is None:
                ack()
            else:  # the broker refused the output: stop, so the input is redelivered after restart
                self._on_fatal(exc)

        fut.add_done_callback(done)
