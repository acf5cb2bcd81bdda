"""What we change in faust's consumer that needs no broker: how long its fetches may wait."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from streams.faust_app import FETCH_MAX_WAIT_MS, LinguaflowApp


async def test_the_worker_consumer_waits_at_most_fetch_max_wait_ms_for_a_fetch() -> None:
    app = LinguaflowApp("unit-fetch-wait", broker="kafka://127.0.0.1:9", autodiscover=False)
    kafka_consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    assert kafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500


async def test_aiokafka_keeps_fetch_max_wait_ms_where_the_fetcher_reads_it() -> None:
    assert AIOKafkaConsumer(fetch_max_wait_ms=7)._fetch_max_wait_ms == 7
