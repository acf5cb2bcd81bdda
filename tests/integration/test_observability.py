"""What an operator sees of a running worker: its Prometheus ``/metrics`` page agrees with what was
sent and with Postgres, and one request is one trace across processes (the producer app's span →
the client's publish span → re-key → dedup → provider call → sink), exported over OTLP/HTTP to a
collector the test runs, configured by OpenTelemetry's own variables."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.samples import Sample

from linguaflow.client import TranslationClient
from linguaflow.synthetic import unique_count
from testbed.fakes.http_fake import HttpFake, QuietHandler
from testbed.services import Stack, WorkerProcess
from tests.integration.runs import ROWS_FOR
from tests.integration.test_pipeline import send_synthetic

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class ExportedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    scope: str  # the instrumentation scope (the library that made it)


class OtlpCollector(HttpFake):
    """A minimal OTLP/HTTP trace receiver: keeps every exported span."""

    def __init__(self) -> None:
        self.spans: list[ExportedSpan] = []
        collector = self

        class Handler(QuietHandler):
            def on_post(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        collector.spans += [
                            ExportedSpan(
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                                s.name,
                                attrs["service.name"],
                                scope.scope.name,
                            )
                            for s in scope.spans
                        ]
                self.answer(200, b"", "application/x-protobuf")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def scrape_until(
    worker: WorkerProcess, done: Callable[[list[Sample]], bool], timeout_s: float = 60
) -> list[Sample]:
    """Metrics move just after the side effect (a row is visible before its flush is counted, lag
    is measured every LINGUAFLOW_LAG_INTERVAL_S)."""
    deadline = time.monotonic() + timeout_s
    while True:
        samples = worker.metrics()
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def lag_series(samples: list[Sample]) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["group"], s.labels["topic"], s.labels["partition"]): s.value
        for s in samples
        if s.name == "linguaflow_consumer_lag"
    }


async def test_metrics_match_what_was_sent_and_one_request_is_one_trace(
    stack: Stack, collector: OtlpCollector
) -> None:
    stack.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.url
    stack.env["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment=test"
    stack.env["LINGUAFLOW_TRACE_INSTRUMENT"] = "asyncpg"  # the sink's queries are spans too
    stack.env["LINGUAFLOW_LAG_INTERVAL_S"] = "2"
    worker = stack.start_worker().wait_ready()
    count, dup_ratio = 300, 0.5
    await send_synthetic(stack, count, dup_ratio, seed=3, run_id="obs")
    # The producer app traces with its own SDK; the client's publish span joins the app's trace.
    exported = InMemorySpanExporter()
    app_tracing = TracerProvider()
    app_tracing.add_span_processor(SimpleSpanProcessor(exported))
    async with TranslationClient(stack.settings, tracer_provider=app_tracing) as client:
        with app_tracing.get_tracer("the producer app").start_as_current_span("checkout") as checkout:
            await client.publish(
                {"request_id": "obs-traced", "text": "a text nobody else sends", "target_lang": "fr"}
            )
    trace_id = f"{checkout.get_span_context().trace_id:032x}"
    [publish] = [s for s in exported.get_finished_spans() if s.name.startswith("send ")]
    publish_id = f"{publish.get_span_context().span_id:016x}"  # type: ignore[union-attr]
    sent, unique = count + 1, unique_count(count, dup_ratio) + 1
    assert await stack.wait_for(ROWS_FOR, sent, "obs-%") == sent

    m = scrape_until(worker, lambda m: total(m, "linguaflow_sink_rows_total") == sent)
    assert total(m, "linguaflow_sink_rows_total") == sent
    assert total(m, "linguaflow_requests_total") == sent
    assert total(m, "linguaflow_results_total") == sent
    outcomes = {o: total(m, "linguaflow_results_total", outcome=o) for o in ("hit", "coalesced", "miss")}
    assert outcomes["miss"] == unique
    assert outcomes["hit"] + outcomes["coalesced"] == sent - unique
    assert total(m, "linguaflow_provider_texts_total", provider="pseudo") == unique
    calls = total(m, "linguaflow_provider_calls_total", provider="pseudo")
    assert 1 <= calls <= unique
    assert total(m, "linguaflow_provider_latency_seconds_count", provider="pseudo") == calls
    assert total(m, "linguaflow_provider_errors_total") == 0
    assert total(m, "linguaflow_e2e_latency_seconds_count") == sent
    assert total(m, "linguaflow_sink_batch_rows_sum") == sent
    assert total(m, "linguaflow_dlq_total") == 0
    billed = await stack.fetchval("SELECT sum(billed_chars) FROM translation_requests")
    assert total(m, "linguaflow_billed_chars_total", provider="pseudo") == billed > 0
    # Lag per partition of every group, back to zero once everything was processed.
    settings = stack.settings
    groups = {
        (settings.app_id, settings.requests_topic),
        (settings.app_id, settings.keyed_topic),
        (settings.sink_group, settings.results_topic),
    }
    expected = {(g, t, str(p)): 0.0 for g, t in groups for p in range(settings.partitions)}
    assert lag_series(scrape_until(worker, lambda m: lag_series(m) == expected)) == expected
    assert worker.stop() == 0, worker.log_tail()  # flushes the spans still buffered

    traced = [span for span in collector.spans if span.trace_id == trace_id]
    assert {span.name for span in traced} == {"rekey", "dedup", "provider.translate", "sink.write"}, (
        worker.log_tail()
    )
    [rekey] = [span for span in traced if span.name == "rekey"]
    assert rekey.parent_id == publish_id  # the worker continues the client's publish span
    assert {span.service for span in traced} == {"linguaflow-worker"}  # no OTEL_SERVICE_NAME: its own
    assert any(span.scope == "opentelemetry.instrumentation.asyncpg" for span in collector.spans)
