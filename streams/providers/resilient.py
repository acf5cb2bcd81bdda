"""The provider the engine talks to: a Provider around chains of real providers.

Per batch: pick the chain for its language pair (or the hinted provider alone); for each provider
in order, skip it while its circuit breaker is open, wait for its token buckets (requests/s,
characters/s), call it with masked text, retry retriable errors with backoff (honouring
``Retry-After`` up to a cap), unmask and verify every translation. Jobs a provider could not
translate (errors, placeholder mismatches) move on to the next provider; what no provider could
translate is reported with every provider's error. The engine stays simple: one call, one answer.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from linguaflow.errors import ConfigError, InvalidRequest, LinguaflowError, ProviderError
from linguaflow.retry import backoff_ms
from linguaflow.settings import Settings
from linguaflow.streams.breaker import Breaker, BreakerConfig, BreakerState
from linguaflow.streams.placeholders import Masked, PlaceholderMismatch, mask, unmask
from linguaflow.streams.providers.base import (
    PartialTranslation,
    Provider,
    ProviderLimits,
    Translated,
    TranslationJob,
    check_answers,
    create_provider,
    translated_as,
    with_text,
)
from linguaflow.streams.ratelimit import TokenBucket
from linguaflow.telemetry import Telemetry

Clock = Callable[[], float]  # epoch ms
Sleep = Callable[[float], Awaitable[None]]


def parse_chain(spec: str) -> tuple[str, ...]:
    """``"deepl>google>openai"`` -> ("deepl", "google", "openai")."""
    names = tuple(n.strip() for n in spec.split(">") if n.strip())
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"provider chain {spec!r} must name each provider once, e.g. 'deepl>google'")
    return names


def route(routes: Mapping[str, tuple[str, ...]], source: str, target: str) -> tuple[str, ...]:
    """The chain for a language pair: ``src:tgt``, then ``*:tgt``, ``src:*``, then ``*`` (default)."""
    for pattern in (f"{source}:{target}", f"*:{target}", f"{source}:*"):
        if pattern in routes:
            return routes[pattern]
    return routes["*"]


@dataclass(frozen=True, slots=True)
class ResilienceConfig:
    attempts: int  # per provider, for retriable errors
    backoff_ms: float
    retry_after_max_s: float  # a longer Retry-After moves on to the next provider instead
    breaker: BreakerConfig
    requests_per_s: Mapping[str, float]  # provider -> limit (absent: unlimited)
    chars_per_s: Mapping[str, float]
    batch_max: int | None = None  # the operator's cap on texts per call, under every provider's own


class _Member:
    def __init__(self, provider: Provider, config: ResilienceConfig, now_ms: float) -> None:
        self.provider = provider
        self.breaker = Breaker(config.breaker)
        rps = config.requests_per_s.get(provider.name)
        cps = config.chars_per_s.get(provider.name)
        self.last_error = ""  # said again while the breaker is open, so a DLQ record names the cause
        self.requests = TokenBucket.full(rps, now_ms) if rps else None
        self.chars = TokenBucket.full(cps, now_ms) if cps else None


class ResilientProvider:
    def __init__(
        self,
        providers: Sequence[Provider],
        routes: Mapping[str, tuple[str, ...]],
        config: ResilienceConfig,
        *,
        telemetry: Telemetry,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._members = {p.name: _Member(p, config, clock()) for p in providers}
        unknown = {n for chain in routes.values() for n in chain} - set(self._members)
        if "*" not in routes or unknown:
            raise ConfigError(f"provider routes need a default '*' and known providers (unknown: {unknown})")
        self._routes = dict(routes)
        self._config = config
        self._telemetry = telemetry
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.name = ">".join(routes["*"])
        # One key space for the whole configuration: a cached answer stays valid whichever member
        # of a chain produced it (the entry records which one did).
        self.model_version = "+".join(sorted({p.model_version for p in providers}))
        self.limits = ProviderLimits(
            max_texts=min([p.limits.max_texts for p in providers] + [config.batch_max or sys.maxsize]),
            max_chars=min(p.limits.max_chars for p in providers),
        )
        self.cost_per_char = max(p.cost_per_char for p in providers)

    def model_version_for(self, hint: str | None) -> str:
        """Model version for cache keys; a request may name one configured provider."""
        if hint is None:
            return self.model_version
        member = self._members.get(hint)
        if member is None:
            raise InvalidRequest(
                f"provider {hint!r} is not configured on this worker", reason="unknown_provider"
            )
        return member.provider.model_version

    def first_provider(self, hint: str | None, source: str, target: str) -> str:
        """The provider a request is sent to first (a replay's cost estimate prices it)."""
        return hint or route(self._routes, source, target)[0]

    def breaker_states(self) -> dict[str, str]:
        return {name: m.breaker.state.value for name, m in self._members.items()}

    async def close(self) -> None:
        for member in self._members.values():
            await member.provider.close()

    async def translate(self, batch: Sequence[TranslationJob]) -> list[Translated]:
        first = batch[0]
        chain = (
            (first.provider,) if first.provider else route(self._routes, first.source_lang, first.target_lang)
        )
        masks = {job.cache_key: mask(job.text) for job in batch}
        done: dict[str, Translated] = {}
        errors: list[str] = []
        for name in chain:
            todo = [job for job in batch if job.cache_key not in done]
            if not todo:
                break
            if name != chain[0]:
                self._telemetry.count("provider_fallbacks", len(todo), provider=name)
            await self._try_member(self._members[name], todo, masks, done, errors)
        if len(done) == len(batch):
            return [done[job.cache_key] for job in batch]
        self._telemetry.count("all_providers_failing")
        message = f"all providers failed ({len(batch) - len(done)} of {len(batch)}): " + "; ".join(errors)
        if done:
            raise PartialTranslation(message, [done[j.cache_key] for j in batch if j.cache_key in done])
        raise ProviderError(message, reason="provider_failed", retriable=False)

    async def _try_member(
        self,
        member: _Member,
        jobs: list[TranslationJob],
        masks: Mapping[str, Masked],
        done: dict[str, Translated],
        errors: list[str],
    ) -> None:
        """Translate what it can of ``jobs`` into ``done``; note its last error in ``errors``."""
        name = member.provider.name
        problem = ""
        for attempt in range(1, self._config.attempts + 1):
            member.breaker, allowed = member.breaker.allow(self._clock())
            if not allowed:
                self._telemetry.count("provider_skipped", reason="circuit_open", provider=name)
                cause = problem or member.last_error
                errors.append(f"{name}: circuit_open" + (f" (after {cause})" if cause else ""))
                return
            await self._throttle(member, jobs, masks)
            try:
                answers = await self._call(member, jobs, masks)
            except LinguaflowError as exc:
                if exc.reason != "rate_limited":  # pacing us is not an outage: Retry-After handles it
                    self._record(member, ok=False)
                self._telemetry.count("provider_errors", provider=name, reason=exc.reason)
                problem = member.last_error = f"{exc.reason}: {exc}"
                if not exc.retriable or attempt == self._config.attempts:
                    errors.append(f"{name}: {problem}")
                    return
                retry_after = exc.retry_after_s if isinstance(exc, ProviderError) else None
                if retry_after is not None and retry_after > self._config.retry_after_max_s:
                    errors.append(f"{name}: {exc.reason}: retry after {retry_after:.0f}s is too long")
                    return
                self._telemetry.count("provider_retries", reason=exc.reason)
                await self._sleep(max(self._backoff_s(attempt), retry_after or 0.0))
                continue
            self._record(member, ok=True)
            mangled: list[TranslationJob] = []
            for job, out in zip(jobs, answers, strict=True):
                try:
                    text = unmask(masks[job.cache_key], out.text)
                except PlaceholderMismatch as exc:
                    self._telemetry.count("provider_errors", provider=name, reason=exc.reason)
                    mangled.append(job)
                    problem = member.last_error = f"{exc.reason}: {exc}"
                    continue
                done[job.cache_key] = translated_as(out, text)
            if not mangled:
                return
            if attempt == self._config.attempts:
                errors.append(f"{name}: {problem}")
                return
            jobs = mangled  # ask again for the mangled ones only
            self._telemetry.count("provider_retries", reason="placeholder_mismatch")
            await self._sleep(self._backoff_s(attempt))

    async def _call(
        self, member: _Member, jobs: list[TranslationJob], masks: Mapping[str, Masked]
    ) -> list[Translated]:
        name = member.provider.name
        self._telemetry.count("provider_calls", provider=name)
        self._telemetry.count("provider_texts", len(jobs), provider=name)
        wire = [with_text(job, masks[job.cache_key].text) for job in jobs]
        try:
            answers = await member.provider.translate(wire)
        except LinguaflowError:
            raise
        except Exception as exc:  # a provider bug must not kill the worker nor lose requests
            raise ProviderError(f"provider crashed: {exc!r}", reason="provider_crashed") from exc
        return check_answers(jobs, answers)

    def _record(self, member: _Member, *, ok: bool) -> None:
        before = member.breaker.state
        member.breaker = member.breaker.record(self._clock(), ok)
        if member.breaker.state is BreakerState.OPEN and before is not BreakerState.OPEN:
            self._telemetry.count("breaker_opened", provider=member.provider.name)

    async def _throttle(
        self, member: _Member, jobs: list[TranslationJob], masks: Mapping[str, Masked]
    ) -> None:
        now = self._clock()
        wait = 0.0
        if member.requests is not None:
            member.requests, waited = member.requests.reserve(now, 1)
            wait = max(wait, waited)
        if member.chars is not None:
            size = sum(len(masks[job.cache_key].text) for job in jobs)
            member.chars, waited = member.chars.reserve(now, size)
            wait = max(wait, waited)
        if wait > 0:
            self._telemetry.count("provider_throttled", provider=member.provider.name)
            await self._sleep(wait / 1000)

    def _backoff_s(self, attempt: int) -> float:
        return backoff_ms(attempt, self._config.backoff_ms, self._config.backoff_ms * 50, self._rand) / 1000


def build_resilient(settings: Settings, *, telemetry: Telemetry, clock: Clock) -> ResilientProvider:
    """The configured chains, each provider created once from the registry."""
    routes = {"*": parse_chain(settings.provider)}
    routes.update({pair: parse_chain(spec) for pair, spec in settings.provider_routes.items()})
    names = dict.fromkeys(n for chain in routes.values() for n in chain)
    config = ResilienceConfig(
        attempts=settings.provider_attempts,
        backoff_ms=settings.provider_backoff_ms,
        retry_after_max_s=settings.provider_retry_after_max_s,
        breaker=BreakerConfig(
            window_ms=settings.breaker_window_s * 1000,
            min_calls=settings.breaker_min_calls,
            error_rate=settings.breaker_error_rate,
            open_ms=settings.breaker_open_s * 1000,
        ),
        requests_per_s=settings.provider_requests_per_s,
        chars_per_s=settings.provider_chars_per_s,
        batch_max=settings.provider_batch_max,
    )
    providers = [create_provider(name, settings) for name in names]
    return ResilientProvider(providers, routes, config, telemetry=telemetry, clock=clock)
