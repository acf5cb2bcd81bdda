"""Opt-in spans of the libraries the worker calls (``LINGUAFLOW_TRACE_INSTRUMENT``), from
OpenTelemetry's instrumentation packages: a provider call through the real HTTP client against a
fake API becomes a client span with the standard HTTP attributes, and carries the trace context to
the provider. (asyncpg's spans are checked across processes in
tests/integration/test_observability.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from linguaflow.errors import ConfigError
from linguaflow.tracing import instrument
from testbed.fakes.apis import DEEPL
from tests.adapters.conftest import jobs, make, running

Exported = tuple[TracerProvider, InMemorySpanExporter]


@pytest.fixture
def exported() -> Iterator[Exported]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    AioHttpClientInstrumentor().uninstrument()


async def test_provider_calls_become_client_spans(
    exported: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = exported
    assert instrument("aiohttp", provider) == ["aiohttp"]
    with running(DEEPL) as fake:
        deepl = make("deepl", fake)
        try:
            await deepl.translate(jobs("Hello"))
        finally:
            await deepl.close()
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes.get("http.request.method", span.attributes.get("http.method")) == "POST"
    assert "traceparent" in fake.headers[0]  # the trace reaches the provider too


def test_unknown_names_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="LINGUAFLOW_TRACE_INSTRUMENT names requests"):
        instrument("aiohttp, requests", TracerProvider())
    assert instrument("", TracerProvider()) == []
