"""The producer's trace, carried to the workers: each publish is a ``send <topic>`` span (kind
PRODUCER, OpenTelemetry's messaging conventions), a child of the caller's current span, and every
request it sends carries that span's W3C trace context (``traceparent``, and ``tracestate`` and
``baggage`` when set) in its Kafka headers, through the propagators ``OTEL_PROPAGATORS`` names.

Only the OpenTelemetry API is used, as by any instrumented library: the producer's app configures
(or not) the SDK and its service name. Without an SDK the span is a no-op and nothing is added.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace

from linguaflow import __version__

Headers = list[tuple[str, bytes]]


def client_tracer(provider: trace.TracerProvider | None) -> trace.Tracer:
    """The client's tracer, of ``provider`` or else of the global one the app set (if any)."""
    return trace.get_tracer("linguaflow.client", __version__, tracer_provider=provider)


@contextmanager
def publishing(tracer: trace.Tracer, topic: str, count: int) -> Iterator[Headers | None]:
    """A span for sending ``count`` requests to ``topic``; yields the headers that carry it."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.batch.message_count": count,
    }
    with tracer.start_as_current_span(f"send {topic}", kind=trace.SpanKind.PRODUCER, attributes=attributes):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield [(name, value.encode()) for name, value in carrier.items()] or None
