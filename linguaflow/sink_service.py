"""The sink agent, run inside each worker (``LINGUAFLOW_WORKER_SINK=true``, the default) or as a
process of its own, ``linguaflow sink`` (the way Kafka Connect runs a sink: deployed, scaled and
restarted apart from the agents, and on a core of its own). Either way it is one consumer group
(``SINK_GROUP``) over the results topic, so any mix of the two shares the partitions.

A sink process serves ``/health``, ``/ready``, ``/stats`` and ``/metrics`` like a worker, and on
SIGTERM writes and commits what it has read before it exits."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web

from linguaflow import event_loop
from linguaflow.admin import flush_request
from linguaflow.clock import wall_ms
from linguaflow.health import CHECK_TTL_MS, Observed, RecentAnswer, StallWatch, not_ready_reasons
from linguaflow.kafka import Publisher, ensure_topics
from linguaflow.lag import LagSource, report_lag
from linguaflow.liveness import Liveness, health_answer
from linguaflow.logs import logging_config
from linguaflow.settings import Settings
from linguaflow.sinks.postgres import PostgresResultSink, sink_pool
from linguaflow.sinks.runner import ResultSinkRunner
from linguaflow.telemetry import PROMETHEUS_CONTENT_TYPE, Telemetry, telemetry_for

log = logging.getLogger("linguaflow.sink")


class SinkService:
    """The results consumer and its Postgres pool, started and stopped with their process. If
    the consumer loop dies, ``on_failure`` is told (a worker crashes; a sink process exits
    non-zero), so a process never goes on without the sink it is meant to run."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        telemetry: Telemetry,
        *,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._telemetry = telemetry
        self._on_failure = on_failure
        self._pool: Any = None
        self._runner: ResultSinkRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._stall = StallWatch(settings.stall_after_s * 1000)
        self._database = RecentAnswer(CHECK_TTL_MS, wall_ms)

    async def start(self) -> None:
        self._pool = await sink_pool(self._settings)
        self._runner = ResultSinkRunner(
            self._settings,
            PostgresResultSink(self._pool, timeout_s=self._settings.sink_write_timeout_s),
            self._publisher,
            self._telemetry,
            clock=wall_ms,
        )
        self._task = asyncio.create_task(self._runner.run(), name="result_sink")
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.critical("the result sink stopped: %r", exc)
            self._on_failure(exc)

    async def database_ok(self) -> bool:
        """Did Postgres answer ``SELECT 1`` within 2 s (asked at most once a second)?"""
        return await self._database.get(self._ask_database)

    async def _ask_database(self) -> bool:
        if self._pool is None:
            return False
        try:
            await asyncio.wait_for(self._pool.fetchval("SELECT 1"), 2)
        except Exception:  # any failure to answer means "not reachable" for readiness
            return False
        return True

    def stalled(self) -> bool:
        if self._runner is None:
            return False
        offsets, unread = self._runner.progress()
        return self._stall.update(wall_ms(), offsets, unread)

    async def flush_now(self) -> int:
        """Write and commit what is buffered now (``POST /flush``); the rows that took."""
        return 0 if self._runner is None else await self._runner.flush()

    def buffer(self) -> dict[str, Any] | None:
        return None if self._runner is None else self._runner.buffer()

    def assigned(self) -> int:
        return 0 if self._runner is None else len(self._runner.consumer.assignment())

    async def stop(self) -> None:
        """Write and commit what was read, then close. What killed the consumer loop, if anything,
        went to ``on_failure`` already."""
        if self._runner is not None and self._task is not None:
            self._runner.stop()
            await asyncio.wait([self._task])
        if self._pool is not None:
            await self._pool.close()

    def lag_sources(self) -> list[LagSource]:
        if self._runner is None:
            return []
        consumer = self._runner.consumer
        return [
            LagSource(
                self._settings.sink_group,
                frozenset({self._settings.results_topic}),
                consumer.assignment,
                consumer.position,
                consumer.end_offsets,
            )
        ]


def run_sink(settings: Settings) -> int:
    """``linguaflow sink``: run until SIGTERM/SIGINT; 0 after a clean drain, 1 if the sink died."""
    logging.config.dictConfig(logging_config(settings.log_level))
    try:
        event_loop.run(_serve(settings), settings.event_loop)
    except Exception:
        log.exception("sink process failed")
        return 1
    return 0


async def _serve(settings: Settings) -> None:
    telemetry = telemetry_for(settings, "sink")
    stopping = asyncio.Event()
    liveness = Liveness.for_settings(settings)

    def stop(reason: str) -> None:
        liveness.begin_shutdown(reason)
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    watch = asyncio.create_task(liveness.watch_loop())
    await ensure_topics(settings)
    publisher = Publisher(settings)  # dead letters (records that are not results)
    await publisher.start()
    failures: list[BaseException] = []

    def failed(exc: BaseException) -> None:
        liveness.fatal(repr(exc))
        failures.append(exc)
        stopping.set()

    service = SinkService(settings, publisher, telemetry, on_failure=failed)
    web_runner: web.AppRunner | None = None
    lag = asyncio.create_task(_report_lag_every(settings.lag_interval_s, telemetry, service))
    try:
        await service.start()
        web_runner = await _start_pages(settings, service, telemetry, stopping, liveness)
        log.info("sink started", extra={"group": settings.sink_group, "topic": settings.results_topic})
        await stopping.wait()
        log.info("sink stopping: writing and committing what was read")
    finally:
        lag.cancel()
        liveness.begin_shutdown("stopping")  # an error in start() ends up here too
        try:
            await service.stop()
        finally:
            if web_runner is not None:
                await web_runner.cleanup()
            await publisher.stop()
            await asyncio.to_thread(telemetry.close)
            watch.cancel()
    if failures:
        raise failures[0]


async def _report_lag_every(interval_s: float, telemetry: Telemetry, service: SinkService) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await report_lag(telemetry, service.lag_sources())


async def _start_pages(
    settings: Settings,
    service: SinkService,
    telemetry: Telemetry,
    stopping: asyncio.Event,
    liveness: Liveness,
) -> web.AppRunner:
    async def reasons() -> list[str]:
        return not_ready_reasons(
            Observed(
                stopping=stopping.is_set(),
                recovered=True,  # a sink has no table to recover
                rebalancing=False,  # aiokafka's own consumer: a rebalance shows as no assignment
                assigned=service.assigned(),
                database_ok=await service.database_ok(),
                stalled=service.stalled(),
            )
        )

    async def health(request: web.Request) -> web.Response:
        body, status = health_answer(liveness)
        return web.json_response(body, status=status)

    async def ready(request: web.Request) -> web.Response:
        found = await reasons()
        return web.json_response({"ready": not found, "reasons": found}, status=503 if found else 200)

    async def stats(request: web.Request) -> web.Response:
        found = await reasons()
        return web.json_response(
            {
                "ready": not found,
                "reasons": found,
                "role": "sink",
                "counters": telemetry.snapshot(),
                "sink_buffer": service.buffer(),
            }
        )

    async def flush(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        body, status = await flush_request(settings, request.remote, authorization, service.flush_now)
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=telemetry.prometheus(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/stats", stats)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/flush", flush)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.web_port).start()
    return runner
