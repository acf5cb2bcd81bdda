"""OpenTelemetry's conventions: the ``OTEL_*`` variables decide whether and how a process traces
(the project's own variables are aliases), each component has its own service name unless the
environment names one, the client's publish span carries the caller's trace in Kafka headers, and
``/metrics`` has the process's own series."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from linguaflow.client.tracing import client_tracer, publishing
from linguaflow.errors import ConfigError
from linguaflow.settings import Settings
from linguaflow.telemetry import Telemetry
from linguaflow.tracing import TraceSetup, trace_setup, tracer_provider

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


def setup(env: dict[str, str], component: str = "worker", **settings: object) -> TraceSetup | None:
    return trace_setup(env, Settings(**settings), component)  # type: ignore[arg-type]


def test_tracing_is_off_without_an_endpoint_and_when_the_sdk_or_exporter_is_disabled() -> None:
    assert setup({}) is None
    assert setup({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}) is None
    assert setup({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}) is None
    assert setup({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}) is not None


def test_the_standard_variables_leave_endpoint_headers_and_sampler_to_the_sdk() -> None:
    assert setup({**ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=x"}) == TraceSetup(
        protocol="http/protobuf", endpoint=None, ratio=1.0, service_name="linguaflow-worker"
    )
    sampled = setup({**ENDPOINT, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"})
    assert sampled is not None
    assert sampled.ratio is None  # the SDK reads OTEL_TRACES_SAMPLER itself
    grpc = setup({**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"})
    assert grpc is not None
    assert grpc.protocol == "grpc"


def test_the_projects_variables_are_aliases_the_standard_ones_win_over() -> None:
    alias = setup({}, otlp_endpoint="http://old:4318/", trace_sample_ratio=0.25)
    assert alias == TraceSetup("http/protobuf", "http://old:4318/v1/traces", 0.25, "linguaflow-worker")
    both = setup(ENDPOINT, otlp_endpoint="http://old:4318")
    assert both is not None
    assert both.endpoint is None


def test_unsupported_values_are_one_line_errors_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'"):
        setup({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        setup({**ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"})


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def resource_of(env: dict[str, str], component: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    chosen = setup({**ENDPOINT, **env}, component)
    assert chosen is not None
    provider = tracer_provider(chosen)
    try:
        return dict(provider.resource.attributes)
    finally:
        provider.shutdown()


def test_each_component_names_its_service_unless_the_environment_does(environ: pytest.MonkeyPatch) -> None:
    assert resource_of({}, "sink", environ)["service.name"] == "linguaflow-sink"
    extra = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=i18n"}
    attrs = resource_of(extra, "worker", environ)
    assert (attrs["service.name"], attrs["deployment.environment"], attrs["team"]) == (
        "linguaflow-worker",
        "prod",
        "i18n",
    )
    named = resource_of({"OTEL_SERVICE_NAME": "translator-eu"}, "worker", environ)
    assert named["service.name"] == "translator-eu"
    environ.delenv("OTEL_SERVICE_NAME")
    by_attribute = resource_of({"OTEL_RESOURCE_ATTRIBUTES": "service.name=tx"}, "sink", environ)
    assert by_attribute["service.name"] == "tx"


def test_a_publish_is_a_producer_span_under_the_callers_whose_context_the_headers_carry() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = provider.get_tracer("the producer app")
    with (
        app.start_as_current_span("checkout") as parent,
        publishing(client_tracer(provider), "requests", 3) as headers,
    ):
        pass
    [send, checkout] = exporter.get_finished_spans()
    assert (send.name, send.kind) == ("send requests", SpanKind.PRODUCER)
    assert send.parent is not None
    assert send.parent.span_id == parent.get_span_context().span_id
    assert send.attributes is not None
    assert send.attributes["messaging.batch.message_count"] == 3
    context = send.get_span_context()
    assert context is not None
    assert headers is not None
    _, trace_id, span_id, flags = dict(headers)["traceparent"].decode().split("-")
    assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert checkout.name == "checkout"


def test_without_an_sdk_or_a_current_span_no_header_is_added() -> None:
    with publishing(client_tracer(None), "requests", 1) as headers:
        assert headers is None


def test_metrics_include_the_process_own_series() -> None:
    page = Telemetry().prometheus().decode()
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_gc_collections_total",
    ):
        assert f"\n{name}" in page, name
