"""Load generation and observation: synthetic requests stamped with their publish time (so
``latency_ms`` in Postgres is produce -> result), full-speed and paced publishing, and waiting
until every request of a run is a row in Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench.infra import Settler
from linguaflow.db import create_pool
from linguaflow.heap import freeze_heap
from linguaflow.kafka import Publisher
from linguaflow.schemas import TranslationResult
from linguaflow.settings import Settings
from linguaflow.synthetic import synthetic_requests
from testbed.services import WorkerProcess


def run_requests(
    run_id: str, space: str, count: int, dup_ratio: float, seed: int = 7
) -> list[dict[str, Any]]:
    """Requests of one run. ``space`` prefixes every text, so runs in different spaces share no
    cache key; two runs in the same space with the same seed ask for the same texts."""
    requests = list(synthetic_requests(count, dup_ratio, seed=seed, now_ms=0, run_id=run_id))
    for request in requests:
        request["text"] = f"[{space}] {request['text']}"
    return requests


async def publish_requests(
    settings: Settings, requests: list[dict[str, Any]], *, rate_per_s: float | None = None
) -> float:
    """Publish (keyed by request_id, like the CLI); ``created_at`` is stamped at send time.
    With ``rate_per_s`` the sends are paced in 10 ms ticks. Returns the monotonic start time."""
    publisher = Publisher(settings, linger_ms=5 if rate_per_s else 20)
    await publisher.start()
    # The load generator must not add pauses of its own to the latency it measures: with its
    # request lists (100,000s of dicts) alive, each full GC pass here took 30-50 ms while stamped
    # requests waited to be sent. Frozen, those lists are left out of the passes.
    freeze_heap()
    try:
        started = time.monotonic()
        settler = Settler()
        for i, request in enumerate(requests):
            if rate_per_s is not None:
                due = started + i / rate_per_s
                if due > time.monotonic() + 0.01:
                    await asyncio.sleep(due - time.monotonic())
            request["created_at"] = int(time.time() * 1000)
            key = request["request_id"].encode()
            await settler.add(await publisher.send(settings.requests_topic, orjson.dumps(request), key=key))
        await settler.wait()
    finally:
        gc.unfreeze()
        await publisher.stop()
    return started


_SUMMARY = """
SELECT count(*) AS rows, count(DISTINCT cache_key) AS unique_keys,
       count(*) FILTER (WHERE outcome = 'hit') AS hits,
       count(*) FILTER (WHERE outcome = 'coalesced') AS coalesced,
       count(*) FILTER (WHERE outcome = 'miss') AS misses,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_ms,
       max(latency_ms) AS max_ms
FROM translation_requests WHERE request_id LIKE $1
"""


def rows_inserted(workers: Sequence[WorkerProcess]) -> Callable[[], int]:
    """Request rows the workers' sinks have inserted since this call: their ``/stats`` counter
    ``sink_requests_inserted``, counted after each database commit (a re-delivered row is not
    counted again). A worker that does not answer adds nothing."""

    def total() -> int:
        n = 0
        for worker in workers:
            with contextlib.suppress(OSError):
                n += int(worker.stats()["counters"].get("sink_requests_inserted", 0))
        return n

    base = total()
    return lambda: total() - base


async def wait_rows(
    settings: Settings,
    run_id: str,
    expected: int,
    started: float,
    *,
    inserted: Callable[[], int],
    stall_s: float = 180,
) -> dict[str, Any]:
    """Poll ``inserted`` (see ``rows_inserted``) until ``expected`` rows are in, or none was
    added for ``stall_s`` (a run of any size ends; an incomplete one says so), then count and
    summarise the run's rows in Postgres once: ``complete`` is Postgres' count. Not a count(*)
    per poll: it reads every row of the run each time, 27-31 ms at 150,000 rows every 50 ms and
    growing, Postgres CPU taken from the worker on a 2-core machine. Returns the summary, the
    time of the last row (seconds after ``started``) and the row count over time."""
    series: list[tuple[float, int]] = []
    progressed = time.monotonic()
    while True:
        rows = inserted()
        now = time.monotonic() - started
        if not series or rows != series[-1][1]:
            series.append((now, rows))
            progressed = time.monotonic()
        if rows >= expected or time.monotonic() - progressed > stall_s:
            break
        await asyncio.sleep(0.05)
    pool = await create_pool(settings, max_size=1)
    try:
        summary = dict(await pool.fetchrow(_SUMMARY, f"{run_id}-%"))
    finally:
        await pool.close()
    summary["complete"] = summary["rows"] >= expected
    summary["last_row_s"] = series[-1][0] if series else None
    summary["rows_over_time"] = series
    return summary


async def latency_series(settings: Settings, run_id: str) -> list[tuple[float, int]]:
    """(seconds since the run's first request, latency_ms) of every row of a run, in order."""
    pool = await create_pool(settings, max_size=1)
    sql = """SELECT extract(epoch FROM requested_at - min(requested_at) OVER ())::float8, latency_ms
             FROM translation_requests WHERE request_id LIKE $1 ORDER BY requested_at"""
    try:
        return [(float(t), int(ms)) for t, ms in await pool.fetch(sql, f"{run_id}-%")]
    finally:
        await pool.close()


def sink_rows_per_s(series: list[tuple[float, int]]) -> float | None:
    """Rows/s between the first and the last row seen (the sink's pace while it had work)."""
    seen = [(t, n) for t, n in series if n > 0]
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        return None
    return (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])


def synthetic_results(count: int) -> list[TranslationResult]:
    """``count`` unique misses, shaped like the pipeline's results (for the raw sink baseline)."""
    now = int(time.time() * 1000)
    requests = run_requests("rawpg", "rawpg", count, 0.0)
    return [
        TranslationResult(
            request_id=r["request_id"],
            cache_key=f"{i:032x}",
            tenant=r["tenant"],
            user=r["user"],
            source_text=r["text"],
            source_lang="en",
            target_lang="de",
            format="text",
            translated_text=f"[!! {r['text']} !!]",
            provider="pseudo",
            model="pseudo/1",
            billed_chars=len(r["text"]),
            cost=0.0,
            cache_hit=False,
            coalesced=False,
            latency_ms=5,
            version=now * 1000 + i,
            created_at=now,
            completed_at=now + 5,
        )
        for i, r in enumerate(requests)
    ]
