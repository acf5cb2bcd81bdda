"""Helpers for the fault tests: streaming load in the background, result-topic accounting."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from linguaflow.kafka import read_topic, topic_partitions
from linguaflow.produce import publish
from linguaflow.schemas import decode_result
from linguaflow.synthetic import synthetic_requests
from testbed.services import Stack
from tests.integration.runs import ROWS_FOR


async def stream_requests(
    stack: Stack, count: int, dup_ratio: float, *, seed: int, run_id: str, chunks: int, pause_s: float
) -> None:
    """Publish ``count`` synthetic requests in ``chunks`` pieces, ``pause_s`` apart."""
    now = int(time.time() * 1000)
    items = list(synthetic_requests(count, dup_ratio, seed=seed, now_ms=now, run_id=run_id))
    size = -(-count // chunks)
    for start in range(0, count, size):
        report = await publish(
            stack.settings, items[start : start + size], total=None, now_ms=now, progress=False
        )
        assert report.sent == len(items[start : start + size])
        await asyncio.sleep(pause_s)


async def provider_translations_per_key(stack: Stack) -> Counter[str]:
    """How many results per cache key came from a provider call (a 'miss'): more than one for a
    key means it was translated again after a crash."""
    misses: Counter[str] = Counter()
    async for record in read_topic(stack.settings, stack.settings.results_topic):
        result = decode_result(record.value or b"")
        if result.outcome == "miss":
            misses[result.cache_key] += 1
    return misses


async def ready_async(worker: Any) -> Any:
    """wait_ready without blocking the event loop (background load keeps flowing)."""
    return await asyncio.to_thread(worker.wait_ready)


async def where_are_missing(stack: Stack, prefix: str) -> str:
    """For a failure message: which stage the requests without a row reached."""
    settings = stack.settings
    rows = set(await stack.fetchval("SELECT coalesce(array_agg(request_id), '{}') FROM translation_requests"))
    stages: dict[str, set[str]] = {}
    for name, topic in (("requests", settings.requests_topic), ("keyed", settings.keyed_topic)):
        stages[name] = set()
        async for record in read_topic(settings, topic):
            rid = orjson.loads(record.value or b"{}").get("request_id", "")
            if rid.startswith(prefix):
                stages[name].add(rid)
    stages["results"] = set()
    async for record in read_topic(settings, settings.results_topic):
        stages["results"].add(decode_result(record.value or b"").request_id)
    missing = stages["requests"] - rows
    reached = {name: len(missing & ids) for name, ids in stages.items()}
    topics = [settings.requests_topic, settings.keyed_topic, settings.results_topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        committed = {
            group: {
                f"{tp.topic}:{tp.partition}": m.offset
                for tp, m in (await admin.list_consumer_group_offsets(group)).items()
            }
            for group in (settings.app_id, settings.sink_group)
        }
    finally:
        await admin.close()
    ends = {}
    for topic, tps in (await topic_partitions(settings, topics)).items():
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await consumer.start()
        try:
            ends.update({f"{topic}:{tp.partition}": o for tp, o in (await consumer.end_offsets(tps)).items()})
        finally:
            await consumer.stop()
    return (
        f"{len(missing)} requests without a row; of those, reached: {reached}; e.g. {sorted(missing)[:5]};"
        f" committed {committed}; end offsets {ends};"
        f" workers: {[w.stats() if w.proc.poll() is None else w.proc.returncode for w in stack.workers]}"
    )


async def supervise(
    stack: Stack, worker: Any, done_sql: str, expected: int, *, timeout_s: float
) -> tuple[Any, int]:
    """Restart the worker whenever it exits (as systemd or Kubernetes would) until ``done_sql``
    returns ``expected``. Returns the worker now running and how many restarts it took."""
    restarts = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await stack.fetchval(done_sql) == expected:
            break
        if worker.proc.poll() is not None:
            restarts += 1
            worker = await ready_async(stack.start_worker(f"restart{restarts}"))
        await asyncio.sleep(0.5)
    return worker, restarts


async def assert_every_request_has_one_correct_row(
    stack: Stack, prefix: str, count: int, unique: int
) -> None:
    rows = await stack.wait_for(ROWS_FOR, count, prefix + "%", timeout_s=180)
    assert rows == count, await where_are_missing(stack, prefix)
    assert await stack.fetchval("SELECT count(DISTINCT request_id) FROM translation_requests") == count
    assert await stack.fetchval("SELECT count(*) FROM translations") == unique
    orphans = await stack.fetchval(
        "SELECT count(*) FROM translation_requests r LEFT JOIN translations t USING (cache_key)"
        " WHERE t.cache_key IS NULL"
    )
    assert orphans == 0


def ready_status(stack: Stack) -> tuple[int, list[str]] | None:
    s = stack.settings
    try:
        with urllib.request.urlopen(f"http://{s.web_host}:{s.web_port}/ready", timeout=2) as r:
            return r.status, orjson.loads(r.read())["reasons"]
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())["reasons"]
    except OSError:
        return None
