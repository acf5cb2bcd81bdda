"""Tracing configured the OpenTelemetry way: the standard ``OTEL_*`` variables, with the project's
own as aliases.

- **On** when an OTLP endpoint is given: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the alias ``LINGUAFLOW_OTLP_ENDPOINT``, an OTLP/HTTP base
  URL). ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn it off.
- **Resource:** ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` as the SDK reads them; a
  process given no service name is named after its component (``linguaflow-worker``,
  ``linguaflow-sink``).
- **Sampler:** ``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG`` as the SDK reads them;
  without them, parent-based at the ratio ``LINGUAFLOW_TRACE_SAMPLE_RATIO``.
- **Exporter:** OTLP over ``http/protobuf``, or ``grpc`` when
  ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` says so (it needs the
  ``opentelemetry-exporter-otlp-proto-grpc`` package). The exporter reads its headers, timeout,
  compression and certificates from the ``OTEL_EXPORTER_OTLP_*`` variables itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from linguaflow.errors import ConfigError
from linguaflow.settings import Settings

Component = Literal["worker", "sink"]
PROTOCOLS = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
}


@dataclass(frozen=True)
class TraceSetup:
    protocol: str  # a key of PROTOCOLS
    endpoint: str | None  # the alias' traces URL; None: the exporter reads OTEL_EXPORTER_OTLP_*
    ratio: float | None  # parent-based ratio sampling; None: the SDK reads OTEL_TRACES_SAMPLER
    service_name: str | None  # None: the environment names the service


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def trace_setup(env: Mapping[str, str], settings: Settings, component: Component) -> TraceSetup | None:
    """How this process traces, from its environment (``env``) and settings; None: not at all."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter == "none":
        return None
    if exporter != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER={exporter!r}: only `otlp` (or `none`) is supported")
    standard = _first(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    if standard is None and not settings.otlp_endpoint:
        return None
    chosen = _first(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    variable, protocol = chosen or ("", "http/protobuf")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{variable}={protocol!r}: use one of {', '.join(sorted(PROTOCOLS))}")
    endpoint = None
    if standard is None and settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        protocol = "http/protobuf"  # the alias names an OTLP/HTTP collector
    resource = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource_keys = [part.split("=", 1)[0].strip() for part in resource.split(",")]
    named = "OTEL_SERVICE_NAME" in env or SERVICE_NAME in resource_keys
    return TraceSetup(
        protocol=protocol,
        endpoint=endpoint,
        ratio=None if _first(env, "OTEL_TRACES_SAMPLER") else settings.trace_sample_ratio,
        service_name=None if named else f"linguaflow-{component}",
    )


def _exporter(setup: TraceSetup) -> Any:
    module_name = PROTOCOLS[setup.protocol]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"OTLP over {setup.protocol} needs the package {module_name.split('.trace_exporter')[0]} "
            "(pip install opentelemetry-exporter-otlp-proto-grpc), or set "
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
        ) from exc
    kwargs = {} if setup.endpoint is None else {"endpoint": setup.endpoint}
    return module.OTLPSpanExporter(**kwargs)


INSTRUMENTORS = {  # LINGUAFLOW_TRACE_INSTRUMENT name -> (module, class), from the `otel` extra
    "aiohttp": ("opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor"),
    "asyncpg": ("opentelemetry.instrumentation.asyncpg", "AsyncPGInstrumentor"),
}


def instrument(names: str, provider: TracerProvider) -> list[str]:
    """Turn on OpenTelemetry's instrumentation of the libraries ``names`` lists (comma-separated),
    their spans going to ``provider``; returns the names instrumented."""
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(INSTRUMENTORS))
    if unknown:
        raise ConfigError(
            f"LINGUAFLOW_TRACE_INSTRUMENT names {', '.join(unknown)}: use {', '.join(sorted(INSTRUMENTORS))}"
        )
    for name in chosen:
        module_name, class_name = INSTRUMENTORS[name]
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
        except ImportError as exc:
            raise ConfigError(
                f"LINGUAFLOW_TRACE_INSTRUMENT={name} needs {exc.name}: pip install 'linguaflow[otel]'"
            ) from None
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    return chosen


def tracer_provider(setup: TraceSetup) -> TracerProvider:
    """The SDK's tracer provider for ``setup``, exporting in batches."""
    attributes = {} if setup.service_name is None else {SERVICE_NAME: setup.service_name}
    resource = Resource.create(attributes)  # + OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    sampler: Sampler | None = None if setup.ratio is None else ParentBased(TraceIdRatioBased(setup.ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)  # None: OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(_exporter(setup)))
    return provider
