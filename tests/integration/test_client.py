"""The producer SDK on the real broker, with `linguaflow worker` running as a subprocess."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from linguaflow.client import (
    DeadLettered,
    InvalidRequest,
    SyncTranslationClient,
    TranslationClient,
    TranslationTimeout,
    idempotent_request_id,
)
from linguaflow.errors import InfraError
from linguaflow.kafka import end_offsets, ensure_topics, read_topic
from linguaflow.settings import REPO_ROOT
from linguaflow.streams.providers.pseudo import pseudo_localise
from testbed.services import Broker, Stack, make_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def served(
    broker: Broker, admin_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One stack and one worker for the tests that need answers (a worker takes a while to start)."""
    stack = await make_stack(broker, admin_db_url, Path(tmp_path_factory.mktemp("client")))
    worker = stack.start_worker().wait_ready()
    yield stack
    code = worker.stop()
    assert code == 0, worker.log_tail()


async def requests_published(stack: Stack) -> int:
    return (await end_offsets(stack.settings, [stack.settings.requests_topic]))[stack.settings.requests_topic]


async def test_translate_returns_the_translation_and_the_same_text_again_is_a_cache_hit(
    served: Stack,
) -> None:
    async with TranslationClient(served.settings) as client:
        first = await client.translate("Hello {name}", "fr", source="en", timeout_s=60)
        second = await client.translate("Hello {name}", "fr", source="en", timeout_s=60)

    assert first.text == "[fr| Ĥéļļö {name}]"
    assert (first.provider, first.model) == ("pseudo", "pseudo/1")
    assert (first.cache_hit, first.coalesced) == (False, False)
    assert second.text == first.text
    assert second.cache_hit
    assert second.cost == 0
    assert second.cache_key == first.cache_key
    assert second.request_id != first.request_id


def test_translate_many_with_duplicates_from_sync_code(served: Stack) -> None:
    texts = [f"Catalogue item {i % 80}: blue cotton shirt" for i in range(200)]
    keys = [f"sku-{i}:title:de" for i in range(200)]
    with SyncTranslationClient(served.settings) as client:
        results = client.translate_many(texts, "de", source="en", idempotency_keys=keys, timeout_s=120)

    assert [r.text for r in results] == [pseudo_localise(t, "de") for t in texts]
    assert [r.request_id for r in results] == [idempotent_request_id(k) for k in keys]
    misses = [r for r in results if not r.cache_hit and not r.coalesced]
    assert len(misses) == 80  # one provider translation per unique text, the rest hit or joined it
    assert len({r.cache_key for r in results}) == 80
    assert sum(r.cost for r in results) == pytest.approx(sum(r.cost for r in misses))


async def test_a_dead_lettered_request_raises_with_the_dlq_reason(served: Stack) -> None:
    async with TranslationClient(served.settings) as client:
        with pytest.raises(DeadLettered) as raised:
            await client.translate("Hello", "de", provider="no-such-provider", timeout_s=60)
        # The listener carries on serving calls after a DLQ answer.
        ok = await client.translate("Still here", "de", timeout_s=60)

    assert raised.value.reason == "unknown_provider"
    assert "no-such-provider" in raised.value.message
    assert not raised.value.retriable
    assert ok.text == pseudo_localise("Still here", "de")


async def test_cache_hit_round_trip_latency(
    served: Stack, record_property: Callable[[str, object], None]
) -> None:
    """Measured and reported, not asserted: the machine is shared with other test runs."""
    async with TranslationClient(served.settings) as client:
        await client.translate("Latency probe", "de", timeout_s=60)  # warm the cache
        samples = []
        for _ in range(200):
            started = time.perf_counter()
            hit = await client.translate("Latency probe", "de", timeout_s=60)
            samples.append((time.perf_counter() - started) * 1000)
            assert hit.cache_hit
    cuts = statistics.quantiles(samples, n=100)
    figures = {"calls": len(samples), "p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}
    figures["max_ms"] = round(max(samples), 1)
    for name, value in figures.items():
        record_property(f"cache_hit_{name}", value)
    print(f"\ncache-hit round trip (sequential translate()): {orjson.dumps(figures).decode()}")


async def test_an_invalid_request_raises_before_anything_is_published(stack: Stack) -> None:
    await ensure_topics(stack.settings)
    async with TranslationClient(stack.settings) as client:
        with pytest.raises(InvalidRequest, match="target_lang"):
            await client.translate("Hello", "not a language")
        with pytest.raises(InvalidRequest, match="text"):
            await client.translate_many(["fine", "   "], "de")
        with pytest.raises(InvalidRequest, match="priority"):
            await client.publish_many(
                [{"text": "fine", "target_lang": "de"}, {"text": "x", "target_lang": "de", "priority": 42}]
            )
        assert await requests_published(stack) == 0

        sent = await client.publish({"text": "Good", "target_lang": "de"}, idempotency_key="cms-1")
    [record] = [r async for r in read_topic(stack.settings, stack.settings.requests_topic)]
    assert record.key == sent.request_id.encode() == idempotent_request_id("cms-1").encode()
    assert orjson.loads(record.value)["text"] == "Good"


async def test_without_a_worker_translate_times_out(stack: Stack) -> None:
    await ensure_topics(stack.settings)
    async with TranslationClient(stack.settings) as client:
        with pytest.raises(TranslationTimeout) as raised:
            await client.translate("Nobody listens", "de", timeout_s=2)
        outcomes = await client.translate_each(["a", "b"], "de", timeout_s=1)
    assert raised.value.reason == "timeout"
    assert raised.value.retriable
    assert [type(o) for o in outcomes] == [TranslationTimeout, TranslationTimeout]
    assert await requests_published(stack) == 3  # published, just never answered


async def test_the_client_says_what_to_run_when_the_topics_are_missing(stack: Stack) -> None:
    with pytest.raises(InfraError, match="linguaflow up"):
        await TranslationClient(stack.settings).start()
    sync_client = SyncTranslationClient(stack.settings)
    with pytest.raises(InfraError, match="linguaflow up"):
        await asyncio.to_thread(sync_client.start)
    assert "linguaflow-client" not in {t.name for t in threading.enumerate()}  # its loop is gone


def readme_example(name: str) -> str:
    """The code block that follows ``<!-- sdk-example: name -->`` in docs/sdk.md."""
    text = (REPO_ROOT / "docs" / "sdk.md").read_text()
    after = text.split(f"<!-- sdk-example: {name} -->\n```python\n", 1)[1]
    return after.split("\n```\n", 1)[0]


async def test_the_readme_chat_example_translates_a_message_into_the_room_languages(served: Stack) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_chat"}
    with mock.patch.dict(os.environ, served.env):
        exec(compile(readme_example("chat"), "README.md:chat", "exec"), namespace)
        async with TestClient(TestServer(namespace["app"])) as http:
            response = await http.post("/messages", json={"room": "lobby", "user": "u7", "text": "Hi {name}"})
            body = await response.json()
    assert response.status == 200
    assert body == {
        "text": "Hi {name}",
        "translations": {lang: pseudo_localise("Hi {name}", lang) for lang in ("de", "fr", "ja")},
    }


def test_the_readme_cms_example_backfills_the_catalogue(
    served: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_cms"}
    with mock.patch.dict(os.environ, served.env):
        exec(compile(readme_example("cms"), "README.md:cms", "exec"), namespace)
    assert capsys.readouterr().out == "translated 1000, skipped 0\n"
    catalogue, translated = namespace["catalogue"], namespace["translated"]
    assert translated == {
        (sku, lang): pseudo_localise(title, lang) for sku, title in catalogue.items() for lang in ("de", "fr")
    }
