"""Raw baselines, measured in the same run on the same broker, topic settings and Postgres as the
pipeline: what Kafka and Postgres can do with nothing of linguaflow in the way."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.infra import Settler
from bench.load import synthetic_results
from linguaflow.kafka import Publisher, client_config, ensure_topics
from linguaflow.settings import Settings
from linguaflow.sinks.batch import SinkBatch
from linguaflow.sinks.postgres import PostgresResultSink, sink_pool
from linguaflow.sinks.rows import REQUEST_COLUMNS, request_row


async def produce_only(settings: Settings, payloads: list[bytes]) -> dict[str, Any]:
    """aiokafka, acks=all, idempotent (our Publisher, the CLI's linger), keyed like the CLI."""
    await ensure_topics(settings)
    publisher = Publisher(settings, linger_ms=20)
    await publisher.start()
    try:
        started = time.monotonic()
        settler = Settler()
        for i, payload in enumerate(payloads):
            await settler.add(await publisher.send(settings.requests_topic, payload, key=b"raw-%d" % i))
        await settler.wait()
        elapsed = time.monotonic() - started
    finally:
        await publisher.stop()
    return {"messages": len(payloads), "elapsed_s": elapsed, "msg_per_s": len(payloads) / elapsed}


def _consumer(settings: Settings, topic: str, group: str, max_records: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        **client_config(settings),
        group_id=f"{settings.app_id}-{group}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=max_records,
    )


async def _forward(consumer: AIOKafkaConsumer, publisher: Publisher, topic: str, count: int) -> float:
    """Fetch a batch, produce every record to ``topic``, wait for the acks, commit, repeat until
    ``count`` records. Returns when the first batch arrived (monotonic)."""
    done, first = 0, 0.0
    while done < count:
        batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
        if not batches:
            continue
        first = first or time.monotonic()
        futures = [
            await publisher.send(topic, r.value, key=r.key) for records in batches.values() for r in records
        ]
        for fut in futures:
            await fut
        await consumer.commit()
        done += len(futures)
    return first


async def pass_through(settings: Settings, count: int) -> dict[str, Any]:
    """A plain consume -> produce loop (requests topic -> results topic): fetch a batch, produce
    every record with the worker's producer settings, wait for the acks, commit, repeat."""
    consumer = _consumer(settings, settings.requests_topic, "raw-pass", 2000)
    publisher = Publisher(settings)
    await consumer.start()
    await publisher.start()
    try:
        first = await _forward(consumer, publisher, settings.results_topic, count)
        elapsed = time.monotonic() - first
    finally:
        await publisher.stop()
        await consumer.stop()
    return {"messages": count, "elapsed_s": elapsed, "msg_per_s": count / elapsed}


SHAPE_COLUMNS = ("topic", "part", "off", "key", "value")


async def same_shape(settings: Settings, count: int) -> dict[str, Any]:
    """A worker's Kafka and Postgres work with nothing of linguaflow in it, in one process: the
    agents' part (consume the requests, produce each on: to the keyed topic, which the raw stack
    leaves unused) and the sink's (consume those, COPY each fetch into a table in one transaction,
    commit after the write), concurrently. No JSON is read or built. The rate this shape of
    pipeline reaches in one Python process, and the CPU it takes per message: what the end-to-end
    rate and the worker's CPU per request can be compared against."""
    pool = await sink_pool(settings, max_size=1)
    forward = _consumer(settings, settings.requests_topic, "raw-shape-forward", 2000)
    store = _consumer(settings, settings.keyed_topic, "raw-shape-store", settings.sink_batch_rows)
    publisher = Publisher(settings)
    for client in (forward, store, publisher):
        await client.start()

    async def store_all() -> None:
        done = 0
        while done < count:
            batches = await store.getmany(timeout_ms=1000, max_records=settings.sink_batch_rows)
            rows = [(r.topic, r.partition, r.offset, r.key, r.value) for rs in batches.values() for r in rs]
            if not rows:
                continue
            async with pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("bench_shape", records=rows, columns=SHAPE_COLUMNS)
            await store.commit()
            done += len(rows)

    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE bench_shape (topic text, part int, off bigint, key bytea, value bytea)"
            )
        cpu = time.process_time()
        first, _ = await asyncio.gather(
            _forward(forward, publisher, settings.keyed_topic, count), store_all()
        )
        elapsed, cpu = time.monotonic() - first, time.process_time() - cpu
    finally:
        for client in (publisher, store, forward):
            await client.stop()
        await pool.close()
    # The process's CPU per message (this process runs nothing else meanwhile): what the same
    # clients and event loop cost without linguaflow, against the worker's split by layer.
    return {
        "messages": count,
        "elapsed_s": elapsed,
        "msg_per_s": count / elapsed,
        "cpu_us_per_msg": 1e6 * cpu / count,
    }


async def postgres_writes(settings: Settings, count: int, batch_rows: int) -> dict[str, Any]:
    """Rows/s for request rows written in batches of ``batch_rows`` (one transaction each):
    COPY, executemany of a plain INSERT, and the sink's own write (new rows COPYed into both
    tables, upserts for the rest; every result here is unique, so each also writes a translation
    row). One
    connection, set up as the sink's, so COPY encodes the very rows the sink maps the same way."""
    results = synthetic_results(count)
    rows = [request_row(r) for r in results]
    chunks = [rows[i : i + batch_rows] for i in range(0, len(rows), batch_rows)]
    cols = ", ".join(REQUEST_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(REQUEST_COLUMNS)))
    pool = await sink_pool(settings, max_size=1)
    out: dict[str, Any] = {"rows": count, "batch_rows": batch_rows}
    try:
        async with pool.acquire() as conn:
            for table in ("bench_copy", "bench_executemany"):
                await conn.execute(f"CREATE TABLE {table} (LIKE translation_requests INCLUDING ALL)")
            started = time.monotonic()
            for chunk in chunks:
                async with conn.transaction():
                    await conn.copy_records_to_table("bench_copy", records=chunk, columns=REQUEST_COLUMNS)
            out["copy_rows_per_s"] = count / (time.monotonic() - started)
            started = time.monotonic()
            for chunk in chunks:
                async with conn.transaction():
                    await conn.executemany(f"INSERT INTO bench_executemany ({cols}) VALUES ({marks})", chunk)
            out["executemany_rows_per_s"] = count / (time.monotonic() - started)
        sink = PostgresResultSink(pool)
        started = time.monotonic()
        for i in range(0, count, batch_rows):
            batch = SinkBatch()
            for offset, result in enumerate(results[i : i + batch_rows], start=i):
                batch.append(result, ("bench", 0), offset, now_ms=0)
            await sink.write(batch)
        out["sink_rows_per_s"] = count / (time.monotonic() - started)
    finally:
        await pool.close()
    return out
