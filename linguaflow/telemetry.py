"""Telemetry behind one small interface, OpenTelemetry underneath.

Business code calls ``count``, ``observe`` (histograms), ``gauge``, ``timed``, ``span`` and
``spans``; it never sees an exporter. Metrics are exported in the Prometheus text format
(``prometheus()``, served as ``/metrics`` by the worker); a local mirror of the counters feeds
``/stats``. Counters and histograms are aggregated here, in dicts, because they are on the hot path
(every result counts and observes): OpenTelemetry reads the counters when it collects, and the
histograms are exported into the same Prometheus registry by ``_Histograms``.

Traces follow the W3C ``traceparent`` carried in Kafka headers and go to an OTLP collector when
one is configured (linguaflow/tracing.py); without one the tracer is a no-op that still passes an
incoming ``traceparent`` through unchanged. ``/metrics`` also has the process's own series
(``process_*``: CPU, RSS, open fds; ``python_gc_*``; ``python_info``).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from itertools import accumulate
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from linguaflow.errors import LinguaflowError
from linguaflow.metrics import METRICS, MetricSpec
from linguaflow.settings import Settings
from linguaflow.tracing import Component, instrument, trace_setup, tracer_provider

Readings = Iterable[tuple[Mapping[str, str], float]]
SeriesKey = tuple[tuple[str, str], ...]  # a series' attributes, sorted by name
_PROPAGATOR = TraceContextTextMapPropagator()
# The text format generate_latest() writes (aiohttp adds no charset to a bytes body).
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"


class Add(Protocol):
    """Adds ``n`` to one counter series (``Telemetry.counter``)."""

    def __call__(self, n: float = 1, /) -> None: ...


class Telemetry:
    def __init__(self, *, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        for process_collector in (ProcessCollector, GCCollector, PlatformCollector):
            process_collector(registry=self._registry)  # process_*, python_gc_*, python_info
        reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self._registry
        )
        self._meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        self._meter = self._meter_provider.get_meter("linguaflow")
        self._tracer_provider = tracer_provider
        self._tracer = (tracer_provider or trace.NoOpTracerProvider()).get_tracer("linguaflow")
        self._instruments: dict[str, Any] = {}
        self._gauges: dict[str, list[Observation]] = {}
        self._counters: dict[str, dict[SeriesKey, float]] = {}
        self._histograms = _Histograms()
        self._registry.register(self._histograms)  # histograms in the same /metrics

    # --- metrics ---------------------------------------------------------------------------------
    def count(self, name: str, n: float = 1, **attributes: str) -> None:
        """Add ``n`` to a counter. Counted here in a dict (the hot path pays ~1 µs, where an
        OpenTelemetry ``Counter.add`` costs 10-25 µs); OpenTelemetry reads the totals when it
        collects, through an observable counter."""
        series = self._series(name)
        attrs = _series_key(attributes)
        series[attrs] = series.get(attrs, 0) + n

    def counter(self, name: str, **attributes: str) -> Add:
        """``count`` for one series, looked up once: ``add(n)`` costs a third of ``count``'s call
        (for counts made several times per request)."""
        series = self._series(name)
        key = _series_key(attributes)

        def add(n: float = 1) -> None:
            series[key] = series.get(key, 0) + n

        return add

    def observer(self, name: str, **attributes: str) -> Callable[[float], None]:
        """``observe`` for one series, looked up once."""
        return partial(self._histograms.named(name).observe, _series_key(attributes))

    def observe(self, name: str, value: float, **attributes: str) -> None:
        """Record one value in a histogram declared in ``linguaflow.metrics.METRICS`` (~1 µs, where
        an OpenTelemetry ``Histogram.record`` costs ~6 µs)."""
        self._histograms.named(name).observe(_series_key(attributes), value)

    def gauge(self, name: str, readings: Readings) -> None:
        """Replace every reading of a gauge (series not in ``readings`` disappear)."""
        self._instrument(name, "gauge")
        self._gauges[name] = [Observation(value, dict(attrs)) for attrs, value in readings]

    @contextmanager
    def timed(self, histogram: str, *, errors: str | None = None, **attributes: str) -> Iterator[None]:
        """Observe how long the block took; count its failures in ``errors`` by ``reason``."""
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            if errors is not None:
                reason = exc.reason if isinstance(exc, LinguaflowError) else "unexpected"
                self.count(errors, 1, **{**attributes, "reason": reason})
            raise
        finally:
            self.observe(histogram, time.perf_counter() - started, **attributes)

    def snapshot(self) -> dict[str, float]:
        """Every counter: its total under its name, and per attribute ``name.key.value``."""
        totals: dict[str, float] = {}
        for name, series in self._counters.items():
            for attrs, value in series.items():
                for key in (name, *(f"{name}.{k}.{v}" for k, v in attrs)):
                    totals[key] = totals.get(key, 0) + value
        return totals

    def prometheus(self) -> bytes:
        """Every metric in the Prometheus text exposition format."""
        return generate_latest(self._registry)

    def _instrument(self, name: str, kind: str) -> Any:
        instrument = self._instruments.get(name)
        if instrument is None:
            instrument = self._instruments[name] = self._create(name, _declared(name, kind))
        return instrument

    def _series(self, name: str) -> dict[SeriesKey, float]:
        """A counter's totals by attributes; the counter is created on first use."""
        series = self._counters.get(name)
        if series is None:
            self._instrument(name, "counter")  # raises for a name declared as another kind
            series = self._counters[name]
        return series

    def _create(self, name: str, spec: MetricSpec) -> Any:
        full = f"linguaflow_{name}"
        if spec.kind == "counter":
            series = self._counters.setdefault(name, {})

            def read(options: CallbackOptions) -> list[Observation]:
                return [Observation(value, dict(attrs)) for attrs, value in list(series.items())]

            return self._meter.create_observable_counter(
                full, callbacks=[read], unit=spec.unit, description=spec.help
            )

        def observe(options: CallbackOptions) -> list[Observation]:
            return list(self._gauges.get(name, ()))

        return self._meter.create_observable_gauge(
            full, callbacks=[observe], unit=spec.unit, description=spec.help
        )

    # --- traces ----------------------------------------------------------------------------------
    def span(
        self,
        name: str,
        traceparent: str | None = None,
        attributes: Callable[[], dict[str, str | int]] | None = None,
    ) -> AbstractContextManager[str | None]:
        """A span (child of ``traceparent``) current for the block; yields the ``traceparent`` to
        pass on: the new span's, or the incoming one unchanged when tracing is off (then nothing
        but that is done: a span is opened per event, so its ``attributes`` are only asked for
        when it is recorded)."""
        if self._tracer_provider is None:
            return nullcontext(traceparent)
        return self._span(name, traceparent, attributes() if attributes else {})

    @contextmanager
    def _span(
        self, name: str, traceparent: str | None, attributes: dict[str, str | int]
    ) -> Iterator[str | None]:
        with self._tracer.start_as_current_span(
            name, context=_context(traceparent), attributes=attributes
        ) as current:
            yield _traceparent(current) or traceparent

    @contextmanager
    def spans(self, name: str, traceparents: Iterable[str | None], **attributes: str | int) -> Iterator[None]:
        """One span per distinct trace for a block that serves several requests at once (a
        provider batch, a sink write), so every request's trace shows the shared work."""
        if self._tracer_provider is None:
            yield
            return
        opened: list[Span] = [
            self._tracer.start_span(name, context=_context(parent), attributes=attributes)
            for parent in dict.fromkeys(t for t in traceparents if t)
        ]
        try:
            yield
        except Exception as exc:
            for span in opened:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            for span in opened:
                span.end()

    def close(self) -> None:
        """Flush and stop the exporters (spans still buffered are sent)."""
        if isinstance(self._tracer_provider, TracerProvider):
            self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


def _series_key(attributes: dict[str, str]) -> SeriesKey:
    """One key per attribute set, whatever order the keywords came in."""
    return tuple(sorted(attributes.items())) if len(attributes) > 1 else tuple(attributes.items())


def _declared(name: str, kind: str) -> MetricSpec:
    """The catalogue's spec of ``name``, which must be a ``kind``. A counter nobody declared still
    works (it is exported without help text); a unit test keeps the catalogue complete."""
    spec = METRICS.get(name) or MetricSpec("counter", "")
    if spec.kind != kind:
        raise ValueError(f"metric {name!r} is a {spec.kind}, not a {kind}")
    return spec


class _Histogram:
    """Bucket counts per attribute set: ``[count of values <= bound for each bound (not cumulative),
    count above the last bound, sum]``."""

    def __init__(self, name: str, spec: MetricSpec) -> None:
        self.name = f"linguaflow_{name}" + {"s": "_seconds", "": ""}[spec.unit]
        self.spec = spec
        self.series: dict[SeriesKey, list[float]] = {}

    def observe(self, attrs: SeriesKey, value: float) -> None:
        counts = self.series.get(attrs)
        if counts is None:
            counts = self.series[attrs] = [0.0] * (len(self.spec.buckets) + 2)
        counts[bisect_left(self.spec.buckets, value)] += 1
        counts[-1] += value

    def family(self) -> HistogramMetricFamily:
        series = list(self.series.items())
        # Every label any series has (a series without one exports it empty, which Prometheus
        # reads as absent), so a call with another attribute set cannot break the exposition.
        labels = sorted({k for attrs, _ in series for k, _ in attrs})
        family = HistogramMetricFamily(self.name, self.spec.help, labels=labels)
        bounds = [str(float(b)) for b in self.spec.buckets] + ["+Inf"]
        for attrs, counts in series:
            values = dict(attrs)
            cumulative = list(accumulate(counts[:-1]))
            family.add_metric(
                [values.get(k, "") for k in labels], list(zip(bounds, cumulative, strict=True)), counts[-1]
            )
        return family


class _Histograms(Collector):
    """The histograms, as a collector of the Prometheus registry OpenTelemetry exports to."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Histogram] = {}

    def named(self, name: str) -> _Histogram:
        """The histogram called ``name``, declared on first use (an undeclared name raises)."""
        histogram = self._by_name.get(name)
        if histogram is None:
            histogram = self._by_name[name] = _Histogram(name, _declared(name, "histogram"))
        return histogram

    def collect(self) -> Iterator[HistogramMetricFamily]:
        for histogram in list(self._by_name.values()):
            yield histogram.family()


def telemetry_for(settings: Settings, component: Component) -> Telemetry:
    """A process's telemetry: Prometheus metrics always, OTLP traces when configured (see
    linguaflow/tracing.py)."""
    setup = trace_setup(os.environ, settings, component)
    if setup is None:
        return Telemetry()
    provider = tracer_provider(setup)
    instrument(settings.trace_instrument, provider)
    return Telemetry(tracer_provider=provider)


def _context(traceparent: str | None) -> Any:
    return _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None


def _traceparent(span: Span) -> str | None:
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")
