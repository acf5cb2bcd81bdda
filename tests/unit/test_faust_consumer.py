"""What we change in faust's consumer that needs no broker: how long its fetches may wait, and
what a batch tells faust's monitor."""

from __future__ import annotations

import time
from types import SimpleNamespace

from aiokafka import AIOKafkaConsumer
from faust.types import TP

from linguaflow.streams.faust_app import LinguaflowApp
from linguaflow.streams.upstream import FETCH_MAX_WAIT_MS, mark_inbound


async def test_the_worker_consumer_waits_at_most_fetch_max_wait_ms_for_a_fetch() -> None:
    app = LinguaflowApp("unit-fetch-wait", broker="kafka://127.0.0.1:9", autodiscover=False)
    kafka_consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    assert kafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500


async def test_aiokafka_keeps_fetch_max_wait_ms_where_the_fetcher_reads_it() -> None:
    assert AIOKafkaConsumer(fetch_max_wait_ms=7)._fetch_max_wait_ms == 7


def test_a_batch_tells_fausts_monitor_that_its_partitions_are_being_processed() -> None:
    """faust's consumer thread reads ``stream_inbound_time`` to tell a stalled stream from a busy
    one; our batches bypass faust's streams, which set it."""
    app = LinguaflowApp("unit-inbound", broker="kafka://127.0.0.1:9", autodiscover=False)
    a, b = TP("requests", 0), TP("requests", 3)
    before = time.monotonic()
    mark_inbound(app.monitor, [SimpleNamespace(tp=a), SimpleNamespace(tp=b), SimpleNamespace(tp=a)])
    assert set(app.monitor.stream_inbound_time) == {a, b}
    assert all(t >= before for t in app.monitor.stream_inbound_time.values())
