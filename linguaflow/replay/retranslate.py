"""Replay mode ``retranslate``: re-publish requests from ``translation.requests`` (same
``request_id``, so Postgres still holds one row per request) for the workers to process again.
With ``refresh`` the first request of each cache key carries ``"refresh": true``: the dedup engine
then skips its cache lookup, the provider answers again, and the new result's newer ``version``
replaces the cached entry and the ``translations`` row. A dry run sends nothing and estimates the
cost instead."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Container
from dataclasses import asdict, replace
from typing import Any

from linguaflow.errors import InvalidRequest
from linguaflow.kafka import Publisher
from linguaflow.replay.plan import ReplayItem, estimate
from linguaflow.replay.reader import Record
from linguaflow.schemas import cache_key, decode_request, encode_request
from linguaflow.settings import Settings
from linguaflow.streams.providers.resilient import ResilientProvider, build_resilient
from linguaflow.telemetry import Telemetry


class Retranslate:
    def __init__(self, settings: Settings, *, dry_run: bool, refresh: bool, cached: Container[str]) -> None:
        self._settings = settings
        self._dry_run = dry_run
        self._refresh = refresh
        self._cached = cached  # keys in the cache now (dry run)
        self._provider: ResilientProvider | None = None
        self._publisher: Publisher | None = None
        self._items: list[ReplayItem] = []
        self._refreshed: set[str] = set()
        self.published = 0
        self.invalid: Counter[str] = Counter()

    async def start(self) -> None:
        # Built only for keys and routes: no provider is called from here.
        self._provider = build_resilient(
            self._settings, telemetry=Telemetry(), clock=lambda: time.time() * 1000
        )
        if not self._dry_run:
            self._publisher = Publisher(self._settings, linger_ms=20)
            await self._publisher.start()

    async def close(self) -> None:
        if self._publisher is not None:
            await self._publisher.stop()
        if self._provider is not None:
            await self._provider.close()

    async def handle(self, chunk: list[Record]) -> None:
        assert self._provider is not None
        pending = []
        for record in chunk:
            try:
                request = decode_request(
                    record.value, max_text_chars=self._settings.max_text_chars, now_ms=record.timestamp
                )
                key = cache_key(request, self._provider.model_version_for(request.provider))
            except InvalidRequest as exc:  # the rekey agent dead-lettered it the first time
                self.invalid[exc.reason] += 1
                continue
            if self._dry_run:
                first = self._provider.first_provider(
                    request.provider, request.source_lang, request.target_lang
                )
                self._items.append(ReplayItem(key, len(request.text), first))
                continue
            assert self._publisher is not None
            # Refresh each key once; its duplicates are answered from the cache (the old entry
            # until the refresh completes) instead of asking the provider again each time.
            refresh = self._refresh and key not in self._refreshed
            if refresh:
                self._refreshed.add(key)
            value = encode_request(replace(request, refresh=True) if refresh else request)
            pending.append(
                await self._publisher.send(
                    self._settings.requests_topic, value, key=request.request_id.encode()
                )
            )
        await asyncio.gather(*pending)  # acknowledged by the broker before the chunk is committed
        self.published += len(pending)

    def report(self) -> dict[str, Any]:
        if not self._dry_run:
            return {"published": self.published, "invalid": dict(self.invalid), "refresh": self._refresh}
        settings = self._settings
        planned = estimate(
            self._items,
            self._cached,
            refresh=self._refresh,
            batch_max=settings.provider_batch_max,
            price_per_char=settings.price_per_char,
        )
        return {**asdict(planned), "invalid": dict(self.invalid), "refresh": self._refresh}


def _wall_ms() -> float:
    return time.time() * 1000
