"""The real pipeline (worker subprocess, real broker and Postgres) against fake provider APIs:
429 storms, a provider down, every provider down, DeepL quota, placeholder mangling. Every
request ends as one row or one DLQ record, and nothing mangled is ever stored."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from linguaflow.kafka import read_topic
from linguaflow.produce import publish
from linguaflow.schemas import header_map
from testbed.fakes.apis import DEEPL, GOOGLE, LIBRE, OPENAI
from testbed.fakes.server import MANGLE, FakeApi, status
from testbed.services import Stack, WorkerProcess

pytestmark = pytest.mark.integration

SECRET = "integration-SECRET-key:fx"
ROWS = "SELECT count(*) FROM translation_requests"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeApi]]:
    started = {spec.name: FakeApi(spec).start() for spec in (DEEPL, GOOGLE, LIBRE, OPENAI)}
    yield started
    for fake in started.values():
        fake.stop()


def configure(stack: Stack, fakes: dict[str, FakeApi], chain: str, **extra: str) -> None:
    stack.env.update(
        {
            "LINGUAFLOW_PROVIDER": chain,
            "LINGUAFLOW_DEEPL_API_KEY": SECRET,
            "LINGUAFLOW_DEEPL_BASE_URL": fakes["deepl"].url,
            "LINGUAFLOW_GOOGLE_API_KEY": SECRET,
            "LINGUAFLOW_GOOGLE_BASE_URL": fakes["google"].url,
            "LINGUAFLOW_LIBRE_URL": fakes["libre"].url,
            "LINGUAFLOW_OPENAI_API_KEY": SECRET,
            "LINGUAFLOW_OPENAI_BASE_URL": fakes["openai"].url,
            "LINGUAFLOW_PROVIDER_TIMEOUT_S": "5",
            "LINGUAFLOW_PROVIDER_BACKOFF_MS": "50",
            "LINGUAFLOW_PROVIDER_ATTEMPTS": "3",
            **extra,
        }
    )


async def send(stack: Stack, count: int, run: str, *, unique: int | None = None, **fields: Any) -> None:
    now = int(time.time() * 1000)
    items = [
        {
            "request_id": f"{run}-{i}",
            "text": f"Hello {{name}}, you have %d new <b>messages</b> #{i % (unique or count)}",
            "source_lang": "en",
            "target_lang": "de",
            "user": f"user-{i % 7}",
            "tenant": f"tenant-{i % 2}",
            **fields,
        }
        for i in range(count)
    ]
    report = await publish(stack.settings, items, total=count, now_ms=now, progress=False)
    assert report.sent == count


async def dead_letters(stack: Stack, expected: int, timeout_s: float = 90) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = [r async for r in read_topic(stack.settings, stack.settings.dlq_topic)]
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.5)


def finish(worker: WorkerProcess) -> None:
    assert worker.stop() == 0, worker.log_tail()


async def test_a_429_storm_slows_things_down_but_every_request_completes(
    stack: Stack, fakes: dict[str, FakeApi]
) -> None:
    configure(stack, fakes, "deepl", LINGUAFLOW_PROVIDER_ATTEMPTS="6")
    fakes["deepl"].then(*[status(429, "Too many requests", retry_after="1")] * 4)
    worker = stack.start_worker().wait_ready()
    await send(stack, 200, "storm", unique=100)
    assert await stack.wait_for(ROWS, 200) == 200
    assert await stack.fetchval("SELECT count(*) FROM translations") == 100
    assert await stack.fetchval("SELECT count(*) FROM translations WHERE provider <> 'deepl'") == 0
    calls = fakes["deepl"].calls
    assert worker.counter("provider_calls.provider.deepl") == calls
    assert worker.counter("provider_retries.reason.rate_limited") == 4
    assert worker.stats()["breakers"] == {"deepl": "closed"}  # pacing is not an outage
    print(f"\n429 storm: {calls} provider calls for 200 requests = {calls * 5} per 1,000 requests")
    finish(worker)


async def test_a_provider_down_falls_back_and_its_breaker_opens(
    stack: Stack, fakes: dict[str, FakeApi]
) -> None:
    configure(
        stack, fakes, "deepl>libre", LINGUAFLOW_PROVIDER_BATCH_MAX="10", LINGUAFLOW_BREAKER_OPEN_S="600"
    )
    fakes["deepl"].always(status(503, "down for maintenance"))
    worker = stack.start_worker().wait_ready()
    await send(stack, 60, "down")
    assert await stack.wait_for(ROWS, 60) == 60
    assert await stack.fetchval("SELECT count(*) FROM translation_requests WHERE provider = 'libre'") == 60
    stats = worker.stats()
    assert stats["breakers"] == {"deepl": "open", "libre": "closed"}
    assert stats["counters"]["breaker_opened.provider.deepl"] == 1
    assert stats["counters"]["provider_skipped.reason.circuit_open"] >= 1
    assert fakes["deepl"].calls < 60  # once open, deepl is no longer asked
    finish(worker)


async def test_deepl_quota_exceeded_falls_back_to_google(stack: Stack, fakes: dict[str, FakeApi]) -> None:
    configure(stack, fakes, "deepl>google")
    fakes["deepl"].always(status(456, "Quota exceeded"))
    worker = stack.start_worker().wait_ready()
    await send(stack, 30, "quota")
    assert await stack.wait_for(ROWS, 30) == 30
    assert await stack.fetchval("SELECT count(DISTINCT provider) FROM translation_requests") == 1
    assert await stack.fetchval("SELECT min(provider) FROM translations") == "google"
    assert worker.counter("provider_errors.reason.quota_exceeded") == fakes["deepl"].calls  # never retried
    finish(worker)


async def test_when_every_provider_is_down_every_request_is_dead_lettered_with_every_error(
    stack: Stack, fakes: dict[str, FakeApi]
) -> None:
    configure(stack, fakes, "deepl>google")
    fakes["deepl"].always(status(500, "internal error"))
    fakes["google"].always(status(403, "Daily Limit Exceeded"))
    worker = stack.start_worker().wait_ready()
    await send(stack, 40, "dead", unique=20)
    letters = await dead_letters(stack, 40)
    rows = await stack.fetchval(ROWS)
    assert rows + len(letters) == 40  # nothing lost
    assert rows == 0
    assert sorted(header_map(r.headers)["request_id"] for r in letters) == sorted(
        f"dead-{i}" for i in range(40)
    )
    for record in letters:
        headers = header_map(record.headers)
        assert headers["error"] == "provider_failed"
        message = headers["error_message"]
        # each provider's cause, also once its breaker is open
        assert re.search(r"deepl: (circuit_open \(after )?unavailable: HTTP 500", message), message
        assert re.search(r"google: (circuit_open \(after )?quota_exceeded: HTTP 403", message), message
        assert SECRET not in str(record.headers)
        assert orjson.loads(record.value)["request_id"] == headers["request_id"]  # replayable
    assert worker.counter("all_providers_failing") >= 1
    finish(worker)


async def test_mangled_placeholders_are_never_stored(stack: Stack, fakes: dict[str, FakeApi]) -> None:
    configure(stack, fakes, "openai>libre")
    fakes["openai"].always(MANGLE)
    worker = stack.start_worker().wait_ready()
    await send(stack, 20, "mangle")  # falls back to libre
    await send(stack, 5, "pinned", provider="openai")  # only openai may answer: DLQ
    assert await stack.wait_for(ROWS, 20) == 20
    letters = await dead_letters(stack, 5)
    assert len(letters) == 5
    assert {header_map(r.headers)["error"] for r in letters} == {"provider_failed"}
    assert all("placeholder_mismatch" in header_map(r.headers)["error_message"] for r in letters)
    assert await stack.fetchval("SELECT count(*) FROM translations WHERE provider <> 'libre'") == 0
    stored = await stack.fetchval("SELECT array_agg(translated_text) FROM translations")
    assert all("{name}" in t and "%d" in t and "<b>messages</b>" in t for t in stored)
    assert worker.counter("provider_errors.reason.placeholder_mismatch") >= 25
    finish(worker)
