"""Composition root of a worker process: settings -> telemetry -> provider -> streams runtime
(+ the sink, unless ``WORKER_SINK=false``) -> faust worker, with ``/health``, ``/ready``,
``/stats`` and ``/metrics`` (Prometheus) on the faust web server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from linguaflow import event_loop
from linguaflow.admin import flush_request
from linguaflow.clock import wall_ms
from linguaflow.health import (
    BROKER_CHECK_S,
    CHECK_TTL_MS,
    Observed,
    RecentAnswer,
    StallWatch,
    not_ready_reasons,
    read_progress,
)
from linguaflow.heap import heap_stats, settle_worker_heap
from linguaflow.kafka import ensure_topics
from linguaflow.lag import LagSource, report_lag
from linguaflow.liveness import health_answer
from linguaflow.logs import logging_config
from linguaflow.settings import Settings
from linguaflow.sink_service import SinkService
from linguaflow.streams.app import StreamsRuntime
from linguaflow.streams.cache_store import DiskCacheStore
from linguaflow.streams.providers.resilient import build_resilient
from linguaflow.streams.upstream import broker_answers, read_offset
from linguaflow.telemetry import PROMETHEUS_CONTENT_TYPE, Telemetry, telemetry_for

log = logging.getLogger("linguaflow.worker")


def build_runtime(settings: Settings) -> StreamsRuntime:
    telemetry = telemetry_for(settings, "worker")
    provider = build_resilient(settings, telemetry=telemetry, clock=wall_ms)
    runtime = StreamsRuntime(settings, provider, telemetry)
    app = runtime.app
    app.start_hooks.insert(0, lambda: _ensure_topics(settings))
    app.stop_hooks.insert(0, _closer(telemetry))  # runs last: spans of the final flush are sent
    sink = None
    if settings.worker_sink:
        sink = SinkService(settings, runtime.publisher, telemetry, on_failure=runtime.fatal)
        app.start_hooks.append(sink.start)  # after the publisher (DLQ) starts, and stops before it
        app.stop_hooks.append(sink.stop)

    async def watch_the_loop() -> None:  # faust passes the app to a task that takes an argument
        await runtime.liveness.watch_loop()

    app.task(watch_the_loop)
    _add_lag_timer(runtime, sink)
    _add_pages(runtime, sink, _freeze_heap_when_recovered(runtime))
    return runtime


def _freeze_heap_when_recovered(runtime: StreamsRuntime) -> dict[str, int]:
    """Freeze once the cache is recovered; the returned dict says how many objects, when done."""
    app = runtime.app
    frozen = {"objects": 0}

    async def freeze_startup_heap() -> None:
        await app.tables.recovery.completed.wait()  # type: ignore[attr-defined]
        frozen["objects"] = settle_worker_heap()
        log.info("heap frozen", extra=frozen)

    app.task(freeze_startup_heap)
    return frozen


def _closer(telemetry: Telemetry) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await asyncio.to_thread(telemetry.close)  # flushing spans is blocking HTTP

    return close


def _add_lag_timer(runtime: StreamsRuntime, sink: SinkService | None) -> None:
    settings = runtime.settings
    consumer = runtime.app.consumer
    agents = LagSource(
        settings.app_id,
        frozenset({settings.requests_topic, settings.keyed_topic}),
        consumer.assignment,
        consumer.position,
        lambda tps: consumer.highwaters(*tps),
    )

    async def measure_lag() -> None:
        runtime.telemetry.gauge("output_wait", [({}, runtime.sender.waiting_s())])
        runtime.telemetry.gauge("user_waiting", [({}, runtime.engine.users_waiting)])
        await report_lag(runtime.telemetry, [agents, *(sink.lag_sources() if sink else [])])

    runtime.app.timer(settings.lag_interval_s, name="consumer_lag")(measure_lag)


async def _ensure_topics(settings: Settings) -> None:
    created = await ensure_topics(settings)
    if created:
        log.info("created topics", extra={"topics": created})


def _input_position(runtime: StreamsRuntime) -> tuple[dict[str, int], int]:
    """Read offsets of the agents' input partitions, and how many records wait unread."""
    consumer = runtime.app.consumer
    inputs = {runtime.settings.requests_topic, runtime.settings.keyed_topic}
    partitions = [tp for tp in consumer.assignment() if tp.topic in inputs]
    return read_progress(partitions, lambda tp: read_offset(consumer, tp), consumer.highwater)


def _add_pages(runtime: StreamsRuntime, sink: SinkService | None, frozen: dict[str, int]) -> None:
    app = runtime.app
    stall = StallWatch(runtime.settings.stall_after_s * 1000)
    broker = RecentAnswer(CHECK_TTL_MS, wall_ms)

    async def ask_broker() -> bool:
        return await broker_answers(
            runtime.publisher.producer, runtime.settings.requests_topic, BROKER_CHECK_S
        )

    async def observe() -> Observed:
        offsets, unread = _input_position(runtime)
        return Observed(
            stopping=bool(app.should_stop),
            recovered=app.tables.recovery.completed.is_set(),  # type: ignore[attr-defined]
            rebalancing=bool(app.rebalancing),
            assigned=len(app.consumer.assignment()),
            database_ok=sink is None or await sink.database_ok(),  # no sink here: no database
            stalled=stall.update(wall_ms(), offsets, unread) or (sink is not None and sink.stalled()),
            broker_ok=await broker.get(ask_broker),
            output_waiting_s=runtime.sender.waiting_s(),
            output_wait_limit_s=runtime.settings.kafka_request_timeout_ms / 1000,
        )

    @app.page("/health")
    async def health(view: Any, request: Any) -> Any:
        body, status = health_answer(runtime.liveness)
        return view.json(body, status=status)

    @app.page("/ready")
    async def readiness(view: Any, request: Any) -> Any:
        reasons = not_ready_reasons(await observe())
        body = {"ready": not reasons, "reasons": reasons, **_user_limit(runtime)}
        return view.json(body, status=503 if reasons else 200)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(runtime.telemetry.prometheus(), content_type=PROMETHEUS_CONTENT_TYPE)

    @app.page("/stats")
    async def stats(view: Any, request: Any) -> Any:
        store = runtime.table.data
        reasons = not_ready_reasons(await observe())
        return view.json(
            {
                "ready": not reasons,
                "reasons": reasons,
                "counters": runtime.telemetry.snapshot(),
                "keys_in_flight": runtime.engine.keys_in_flight,
                **_user_limit(runtime),
                "cache_entries": len(runtime.table),
                "cache_disk": store.entries.memory() if isinstance(store, DiskCacheStore) else None,
                "provider": runtime.provider.name,
                "breakers": runtime.provider.breaker_states(),
                "heap": heap_stats(frozen["objects"]),
                "sink_buffer": None if sink is None else sink.buffer(),
            }
        )

    @app.page("/flush")
    class Flush(faust.web.View):
        async def post(self, request: Any) -> Any:
            flush = None if sink is None else sink.flush_now
            authorization = request.headers.get("Authorization")
            body, status = await flush_request(runtime.settings, request.remote, authorization, flush)
            return self.json(body, status=status)


def _user_limit(runtime: StreamsRuntime) -> dict[str, Any]:
    """What ``/ready`` and ``/stats`` say of the per-user limit: requests waiting on it now (they
    do not make the worker unready: the limit is doing its job), and the limit this worker applies
    (its share of ``USER_REQUESTS_PER_MIN``)."""
    share = runtime.engine.user_limit_share
    per_min = None if share is None else runtime.settings.user_requests_per_min * share
    return {"waiting_on_user_limit": runtime.engine.users_waiting, "user_requests_per_min_here": per_min}


class _Worker(faust.Worker):
    """faust's worker, with a bound on how long its shutdown may take (``Liveness``)."""

    def __init__(self, runtime: StreamsRuntime, **kwargs: Any) -> None:
        super().__init__(runtime.app, **kwargs)
        self._liveness = runtime.liveness

    async def on_stop(self) -> None:
        self._liveness.begin_shutdown("stopping")
        await super().on_stop()


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; exits non-zero if the worker crashed."""
    event_loop.use_for_faust(settings.event_loop)
    runtime = build_runtime(settings)
    worker = _Worker(
        runtime,
        loglevel=settings.log_level.lower(),
        quiet=True,
        logging_config=logging_config(settings.log_level),
        redirect_stdouts=False,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        # After a fatal error the exit code is non-zero, however cleanly the shutdown went.
        if not exit_.code and runtime.liveness.exit_code:
            raise SystemExit(runtime.liveness.exit_code) from None
        raise
