"""Input the log does not hold as records: transaction markers, aborted records, and records that
retention deleted before the worker read them. The worker reads committed data only, processes it
exactly once, and commits past every such offset (lag 0), counting what retention took."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from linguaflow.kafka import read_topic, topic_partitions
from linguaflow.schemas import encode_request
from linguaflow.schemas.request import request_from_dict
from linguaflow.synthetic import synthetic_requests
from testbed.services import Stack, WorkerProcess
from tests.integration.runs import ROWS_FOR, run_synthetic

pytestmark = pytest.mark.integration

TXN_SIZE = 100
N = 1000  # requests in committed transactions, and as many in aborted ones


def encoded(stack: Stack, count: int, *, seed: int, run_id: str) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs the way ``linguaflow produce`` sends them: key = request_id."""
    now = int(time.time() * 1000)
    settings = stack.settings
    pairs = []
    for item in synthetic_requests(count, 0.5, seed=seed, now_ms=now, run_id=run_id):
        request = request_from_dict(item, max_text_chars=settings.max_text_chars, now_ms=now)
        pairs.append((request.request_id.encode(), encode_request(request)))
    return pairs


async def publish_interleaved_transactions(stack: Stack) -> dict[int, int]:
    """N requests in committed transactions and N in aborted ones, TXN_SIZE per transaction,
    alternating (committed first), so committed data follows aborted data in every partition.
    Returns the records per partition of the last transaction (an aborted one: the log ends with it)."""
    settings = stack.settings
    committed = encoded(stack, N, seed=31, run_id="txok")
    aborted = encoded(stack, N, seed=32, run_id="txabort")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        transactional_id=f"{settings.app_id}-tx",
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    last: dict[int, int] = {}
    try:
        for start in range(0, N, TXN_SIZE):
            for pairs, commit in ((committed, True), (aborted, False)):
                await producer.begin_transaction()
                futures = [
                    await producer.send(settings.requests_topic, value, key=key)
                    for key, value in pairs[start : start + TXN_SIZE]
                ]
                sent = await asyncio.gather(*futures)  # in the log (uncommitted) before the outcome
                last = Counter(meta.partition for meta in sent)
                if commit:
                    await producer.commit_transaction()
                else:
                    await producer.abort_transaction()
    finally:
        await producer.stop()
    return last


async def requests_lag(stack: Stack) -> dict[int, int | None]:
    """Per partition of the requests topic: end offset minus the worker group's committed offset
    (None: no committed offset)."""
    settings = stack.settings
    tps = (await topic_partitions(settings, [settings.requests_topic]))[settings.requests_topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    committed = {tp.partition: m.offset for tp, m in found.items() if tp.topic == settings.requests_topic}
    return {
        tp.partition: None if committed.get(tp.partition, -1) < 0 else ends[tp] - committed[tp.partition]
        for tp in tps
    }


async def wait_lag_zero(stack: Stack, timeout_s: float = 30) -> dict[int, int | None]:
    deadline = time.monotonic() + timeout_s
    while True:
        lag = await requests_lag(stack)
        if all(v == 0 for v in lag.values()) or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(0.5)


async def run_unread(stack: Stack, count: int, *, seed: int, run_id: str) -> None:
    """Publish ``count`` requests with no worker running (nobody reads them yet)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(stack.settings.requests_topic, value, key=key)
            for key, value in encoded(stack, count, seed=seed, run_id=run_id)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def rows(stack: Stack, like: str) -> int:
    return int(await stack.fetchval(ROWS_FOR, like))


async def run_transactions(stack: Stack) -> tuple[WorkerProcess, dict[str, Any], dict[int, int]]:
    """One worker reads the interleaved transactions; figures once the committed rows are in and
    the group's commits have settled (or 30 s passed)."""
    worker = stack.start_worker().wait_ready()
    tail = await publish_interleaved_transactions(stack)
    await stack.wait_for(ROWS_FOR, N, "txok-%", timeout_s=120)
    lag = await wait_lag_zero(stack)
    figures = {
        "committed_rows": await rows(stack, "txok-%"),
        "committed_distinct": await stack.fetchval(
            "SELECT count(DISTINCT request_id) FROM translation_requests WHERE request_id LIKE 'txok-%'"
        ),
        "aborted_rows": await rows(stack, "txabort-%"),
        "lag": lag,
        "read": worker.counter("requests"),
    }
    return worker, figures, tail


async def test_aborted_transactions_are_never_processed_and_commits_pass_every_marker(stack: Stack) -> None:
    worker, figures, tail = await run_transactions(stack)
    partitions = list(figures["lag"])
    expected = {
        "committed_rows": N,
        "committed_distinct": N,
        "aborted_rows": 0,
        "lag": dict.fromkeys(partitions, 0),
        "read": N,  # aborted records were never read
    }
    assert figures == expected, (
        f"the last (aborted) transaction's records per partition: {dict(tail)}, then a marker each"
        f"\n{worker.log_tail(1500)}"
    )
    assert worker.stop() == 0, worker.log_tail()


async def test_a_restart_after_transactions_reads_nothing_again(stack: Stack) -> None:
    first, before, _ = await run_transactions(stack)
    total = await stack.fetchval("SELECT count(*) FROM translation_requests")
    assert first.stop() == 0, first.log_tail()
    committed_lag = await requests_lag(stack)

    second = await asyncio.to_thread(stack.start_worker("second").wait_ready)
    await asyncio.sleep(5)
    figures = {
        "re_read": second.counter("requests"),
        "new_rows": await stack.fetchval("SELECT count(*) FROM translation_requests") - total,
    }
    assert figures == {"re_read": 0, "new_rows": 0}, (
        f"lag at stop {committed_lag}; before restart {before}\n{second.log_tail()}"
    )
    assert second.stop() == 0, second.log_tail()


async def test_retention_past_the_committed_offset_is_counted_and_reading_goes_on(stack: Stack) -> None:
    settings = stack.settings
    worker = stack.start_worker("first").wait_ready()
    await run_synthetic(stack, 200, 0.5, seed=41, run_id="pre", worker=worker)
    assert await wait_lag_zero(stack) == dict.fromkeys(range(settings.partitions), 0), worker.log_tail()
    assert worker.stop() == 0, worker.log_tail()
    tps = (await topic_partitions(settings, [settings.requests_topic]))[settings.requests_topic]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        committed_at = await consumer.end_offsets(tps)  # lag was 0: the committed offsets
        await run_unread(stack, 300, seed=42, run_id="mid")
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()

    # Retention takes the first half of each partition's unread records (at least one).
    cut = {tp: committed_at[tp] + max(1, (ends[tp] - committed_at[tp]) // 2) for tp in tps}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        starts = await admin.delete_records({tp: RecordsToDelete(before_offset=o) for tp, o in cut.items()})
    finally:
        await admin.close()
    assert {tp: starts[tp] for tp in tps} == cut
    lost = {tp.partition: cut[tp] - committed_at[tp] for tp in tps}
    kept = {
        orjson.loads(record.value or b"{}")["request_id"]
        async for record in read_topic(settings, settings.requests_topic)
    }
    kept_mid = {rid for rid in kept if rid.startswith("mid-")}
    assert len(kept_mid) == 300 - sum(lost.values())
    await run_unread(stack, 100, seed=43, run_id="post")

    second = await asyncio.to_thread(stack.start_worker("second").wait_ready)
    await stack.wait_for(ROWS_FOR, 100, "post-%", timeout_s=120)
    await stack.wait_for(ROWS_FOR, len(kept_mid), "mid-%", timeout_s=30)
    lag = await wait_lag_zero(stack)
    mid_rows = set(
        await stack.fetchval(
            "SELECT coalesce(array_agg(request_id), '{}') FROM translation_requests"
            " WHERE request_id LIKE 'mid-%'"
        )
    )
    counters = second.stats()["counters"]
    holes = {k: v for k, v in counters.items() if k.startswith("input_holes")}
    samples = [s for s in second.metrics() if s.name == "linguaflow_input_holes_total"]
    log = second.log_path.read_text(errors="replace")
    retention_lines = [line for line in log.splitlines() if "retention" in line.lower()]
    figures = {
        "post_rows": await rows(stack, "post-%"),
        "mid_rows": len(mid_rows),
        "mid_rows_of_deleted_records": len(mid_rows - kept_mid),
        "lag": lag,
        "holes_retention": counters.get("input_holes.reason.retention", 0),
        "prometheus_retention": sum(s.value for s in samples if s.labels.get("reason") == "retention"),
        "retention_log_lines_name_each_count": all(
            any(str(n) in line for line in retention_lines) for n in lost.values()
        ),
    }
    expected = {
        "post_rows": 100,
        "mid_rows": len(kept_mid),
        "mid_rows_of_deleted_records": 0,
        "lag": dict.fromkeys(lost, 0),
        "holes_retention": sum(lost.values()),
        "prometheus_retention": sum(lost.values()),
        "retention_log_lines_name_each_count": True,
    }
    assert figures == expected, (
        f"lost per partition {lost}; read {counters.get('requests', 0)} of {len(kept_mid) + 100} kept;"
        f" input_holes counters {holes}; retention log lines {retention_lines}"
        f"\n{second.log_tail()}"
    )
    assert second.stop() == 0, second.log_tail()
