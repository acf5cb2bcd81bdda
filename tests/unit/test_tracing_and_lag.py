"""One request is one trace, in process: the producer's span → re-key → dedup → provider call →
sink write, through the real ``key_request``, ``DedupEngine`` and ``ResultSinkRunner`` with an
in-memory span exporter. (The integration tier checks the same across processes over OTLP.)
Also: consumer lag per partition from positions and end offsets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from linguaflow.lag import LagSource, lag_readings, report_lag
from linguaflow.schemas import DeadLetter, encode
from linguaflow.settings import Settings
from linguaflow.sinks.postgres import WriteOutcome
from linguaflow.sinks.runner import ResultSinkRunner
from linguaflow.streams.dedup import DedupEngine, EngineConfig
from linguaflow.streams.keying import KeyedRequest, Origin, key_request
from linguaflow.telemetry import Telemetry
from tests.unit.test_dedup_engine import CountingProvider, FakeClock, FakeOutbox, settle
from tests.unit.test_telemetry import samples


@dataclass
class FakeMessage:
    value: bytes
    offset: int


class FakeSink:
    async def write(self, batch: Any) -> WriteOutcome:
        return WriteOutcome(translations_changed=1, requests_inserted=len(batch.requests()))


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


async def test_spans_of_one_request_share_the_producers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=provider)
    clock = FakeClock()
    outbox = FakeOutbox()
    engine = DedupEngine(
        CountingProvider(),
        {},
        outbox,
        EngineConfig(linger_ms=0, max_inflight_batches=1),
        clock=clock,
        telemetry=telemetry,
        on_fatal=lambda exc: None,
    )
    with telemetry.span("produce") as produced:  # what a producer SDK does
        pass
    raw = orjson.dumps({"request_id": "r-1", "text": "Hello", "target_lang": "de"})
    origin = Origin("translation.requests", 0, 5)
    with telemetry.span("rekey", produced, origin.attributes) as rekeyed:
        outcome = key_request(
            raw,
            origin,
            model_version_for=lambda hint: "v1",
            max_text_chars=100,
            now_ms=0,
            traceparent=rekeyed,
        )
    assert not isinstance(outcome, DeadLetter)
    with telemetry.span("dedup", outcome.traceparent) as deduped:
        keyed = KeyedRequest(outcome.cache_key, outcome.request, origin, deduped)
        await engine.on_request(keyed, lambda: None)
    await engine.drain()
    await settle()
    [result] = outbox.results

    runner = ResultSinkRunner(Settings(), FakeSink(), None, telemetry, clock=clock)  # type: ignore[arg-type]
    runner._consumer = FakeConsumer()  # type: ignore[assignment]
    await runner._add(TopicPartition("translation.results", 0), FakeMessage(encode(result), 9))
    await runner.flush()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"produce", "rekey", "dedup", "provider.translate", "sink.write"}
    assert len({s.context.trace_id for s in spans.values()}) == 1
    parent_of = {name: s.parent.span_id if s.parent else None for name, s in spans.items()}
    span_id = {name: s.context.span_id for name, s in spans.items()}
    assert parent_of == {
        "produce": None,
        "rekey": span_id["produce"],
        "dedup": span_id["rekey"],
        "provider.translate": span_id["dedup"],
        "sink.write": span_id["dedup"],  # the result carries the dedup span's context
    }
    assert result.traceparent == deduped
    assert runner._consumer.commits == [{TopicPartition("translation.results", 0): 10}]
    got = samples(telemetry)
    assert got[("linguaflow_sink_batch_rows_sum", ())] == 1
    assert got[("linguaflow_sink_flush_seconds_count", ())] == 1
    assert got[("linguaflow_provider_latency_seconds_count", (("provider", "counting"),))] == 1


def test_lag_readings_clamp_at_zero_and_skip_unknown_positions() -> None:
    a, b, c = (TopicPartition("t", p) for p in range(3))
    readings = lag_readings("g", {a: 10, b: 4, c: 7}, {a: 3, b: 9, c: None})
    assert readings == [
        ({"group": "g", "topic": "t", "partition": "0"}, 7.0),
        ({"group": "g", "topic": "t", "partition": "1"}, 0.0),
    ]


def fake_source(
    group: str, ends: Mapping[Any, int], positions: Mapping[Any, int], topics: set[str]
) -> LagSource:
    async def position(tp: Any) -> int:
        return positions[tp]

    async def end_offsets(tps: list[Any]) -> Mapping[Any, int]:
        return {tp: ends[tp] for tp in tps}

    return LagSource(group, frozenset(topics), lambda: set(positions), position, end_offsets)


async def test_report_lag_measures_owned_partitions_of_the_named_topics() -> None:
    telemetry = Telemetry()
    mine, changelog = TopicPartition("requests", 1), TopicPartition("cache", 1)
    agents = fake_source("app", {mine: 12, changelog: 99}, {mine: 2, changelog: 0}, {"requests"})

    async def broken(tps: list[Any]) -> Mapping[Any, int]:
        raise RuntimeError("coordinator not available")

    sink = LagSource("sink", frozenset({"results"}), lambda: {TopicPartition("results", 0)}, None, broken)  # type: ignore[arg-type]
    await report_lag(telemetry, [agents, sink])
    lag = {k: v for k, v in samples(telemetry).items() if k[0] == "linguaflow_consumer_lag"}
    assert lag == {
        ("linguaflow_consumer_lag", (("group", "app"), ("partition", "1"), ("topic", "requests"))): 10.0
    }
