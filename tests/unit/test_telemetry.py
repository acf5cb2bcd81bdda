"""Telemetry: counters, histograms and gauges as Prometheus text; spans following ``traceparent``;
the JSON log formatter's trace fields; the metric catalogue matches what the code records."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from linguaflow.errors import ProviderError
from linguaflow.metrics import METRICS
from linguaflow.settings import REPO_ROOT
from linguaflow.telemetry import Telemetry
from tests.unit.test_synthetic_settings_logs import json_lines

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = telemetry.prometheus().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def traced() -> tuple[Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Telemetry(tracer_provider=provider), exporter


def test_counters_keep_the_stats_snapshot_and_export_prometheus_totals() -> None:
    t = Telemetry()
    t.count("requests_in")
    t.count("requests_in")
    t.count("results", outcome="hit")
    t.count("results", 3, outcome="miss")
    t.count("cost", 0.25, provider="pseudo")
    assert t.snapshot() == {
        "requests_in": 2,
        "results": 4,
        "results.outcome.hit": 1,
        "results.outcome.miss": 3,
        "cost": 0.25,
        "cost.provider.pseudo": 0.25,
    }
    got = samples(t)
    assert got[("linguaflow_requests_in_total", ())] == 2
    assert got[("linguaflow_results_total", (("outcome", "miss"),))] == 3
    assert got[("linguaflow_cost_total", (("provider", "pseudo"),))] == 0.25


def test_snapshot_is_a_copy() -> None:
    t = Telemetry()
    t.count("dlq")
    snap = t.snapshot()
    snap["dlq"] = 100
    assert t.snapshot() == {"dlq": 1}


def test_histograms_use_declared_second_buckets() -> None:
    t = Telemetry()
    t.observe("e2e_latency", 1.5, outcome="hit")
    t.observe("e2e_latency", 3.0, outcome="hit")
    got = samples(t)
    hit = (("outcome", "hit"),)
    assert got[("linguaflow_e2e_latency_seconds_count", hit)] == 2
    assert got[("linguaflow_e2e_latency_seconds_sum", hit)] == 4.5
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "2.0"), *hit))] == 1
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "5.0"), *hit))] == 2


def test_histogram_bounds_are_inclusive_and_series_are_per_attribute_set() -> None:
    t = Telemetry()
    t.observe("e2e_latency", 0.5, outcome="hit")  # on a bound: counted in le="0.5"
    t.observe("e2e_latency", 61.0, outcome="hit")  # above the last bound: only +Inf
    t.observe("e2e_latency", 0.001, outcome="miss")
    t.observe("sink_batch_rows", 7)
    got = samples(t)
    hit, miss = (("outcome", "hit"),), (("outcome", "miss"),)
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "0.25"), *hit))] == 0
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "0.5"), *hit))] == 1
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "60.0"), *hit))] == 1
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "+Inf"), *hit))] == 2
    assert got[("linguaflow_e2e_latency_seconds_bucket", (("le", "0.005"), *miss))] == 1
    assert got[("linguaflow_e2e_latency_seconds_count", miss)] == 1
    assert got[("linguaflow_sink_batch_rows_bucket", (("le", "10.0"),))] == 1
    assert got[("linguaflow_sink_batch_rows_sum", ())] == 7


def test_a_histogram_observed_with_other_attribute_sets_still_exports() -> None:
    t = Telemetry()
    t.observe("provider_latency", 0.2, provider="deepl")
    t.observe("provider_latency", 0.3)  # no attributes: the label is exported empty
    got = samples(t)
    assert got[("linguaflow_provider_latency_seconds_count", (("provider", "deepl"),))] == 1
    assert got[("linguaflow_provider_latency_seconds_count", (("provider", ""),))] == 1


def test_a_metric_is_used_as_what_it_was_declared() -> None:
    t = Telemetry()
    with pytest.raises(ValueError, match="is a counter"):
        t.observe("dlq", 1.0)
    with pytest.raises(ValueError, match="is a histogram"):
        t.count("sink_flush")


def test_gauge_readings_replace_the_previous_ones() -> None:
    t = Telemetry()
    t.gauge("consumer_lag", [({"partition": "0"}, 5.0), ({"partition": "1"}, 7.0)])
    assert samples(t)[("linguaflow_consumer_lag", (("partition", "1"),))] == 7
    t.gauge("consumer_lag", [({"partition": "0"}, 2.0)])
    got = samples(t)
    assert got[("linguaflow_consumer_lag", (("partition", "0"),))] == 2
    assert ("linguaflow_consumer_lag", (("partition", "1"),)) not in got  # revoked: gone


def test_timed_observes_duration_and_counts_failures_by_reason() -> None:
    t = Telemetry()
    with t.timed("provider_latency", errors="provider_errors", provider="p"):
        pass
    with (
        pytest.raises(ProviderError),
        t.timed("provider_latency", errors="provider_errors", provider="p"),
    ):
        raise ProviderError("slow down", reason="rate_limited")
    with pytest.raises(KeyError), t.timed("provider_latency", errors="provider_errors", provider="p"):
        raise KeyError("bug")
    got = samples(t)
    assert got[("linguaflow_provider_latency_seconds_count", (("provider", "p"),))] == 3
    errors = {k[1]: v for k, v in got.items() if k[0] == "linguaflow_provider_errors_total"}
    assert errors == {
        (("provider", "p"), ("reason", "rate_limited")): 1,
        (("provider", "p"), ("reason", "unexpected")): 1,
    }


def test_a_counter_or_observer_looked_up_once_adds_to_the_same_series_as_count_and_observe() -> None:
    t = Telemetry()
    hits = t.counter("results", outcome="hit")
    requests = t.counter("requests_in")
    assert t.snapshot() == {}  # no series until something is added
    hits()
    hits(2)
    t.count("results", outcome="hit")
    requests()
    latency = t.observer("e2e_latency", outcome="hit")
    latency(0.004)
    t.observe("e2e_latency", 0.004, outcome="hit")
    assert t.snapshot() == {"results": 4, "results.outcome.hit": 4, "requests_in": 1}
    got = samples(t)
    assert got[("linguaflow_results_total", (("outcome", "hit"),))] == 4
    assert got[("linguaflow_e2e_latency_seconds_count", (("outcome", "hit"),))] == 2
    with pytest.raises(ValueError, match="histogram"):
        t.counter("e2e_latency")


def test_span_continues_the_incoming_trace_and_yields_its_own_traceparent() -> None:
    t, exporter = traced()
    with t.span("rekey", PARENT, lambda: {"messaging.kafka.offset": 7}) as child:
        pass
    [span] = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"  # type: ignore[union-attr]
    assert child == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
    assert span.attributes == {"messaging.kafka.offset": 7}


def test_without_tracing_the_incoming_traceparent_passes_through() -> None:
    t = Telemetry()
    asked: list[str] = []
    with t.span("rekey", PARENT, lambda: asked.append("attributes") or {}) as child:
        assert child == PARENT
    assert asked == []  # nothing is recorded: the attributes are not even built
    with t.span("rekey", None) as child:
        assert child is None
    with t.span("rekey", "not-a-traceparent") as child:
        assert child == "not-a-traceparent"


def test_spans_opens_one_span_per_distinct_trace_and_marks_errors() -> None:
    t, exporter = traced()
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    with pytest.raises(ProviderError), t.spans("provider.translate", [PARENT, None, PARENT, other], texts=3):
        raise ProviderError("down")
    spans = exporter.get_finished_spans()
    assert sorted(format(s.context.trace_id, "032x") for s in spans) == sorted(
        [TRACE_ID, "11111111111111111111111111111111"]
    )
    assert all(s.status.status_code is StatusCode.ERROR for s in spans)
    assert all(s.attributes == {"texts": 3} for s in spans)


def test_log_lines_carry_the_current_trace_id_and_extra_fields() -> None:
    t, _ = traced()
    with json_lines("linguaflow.unit.trace") as (log, docs):
        log.info("outside")
        with t.span("dedup", PARENT):
            log.info("dead-lettered", extra={"request_id": "r-1", "partition": 3, "offset": 42})
    outside, inside = docs
    assert "trace_id" not in outside
    assert inside["trace_id"] == TRACE_ID
    assert re.fullmatch(r"[0-9a-f]{16}", inside["span_id"])
    assert (inside["request_id"], inside["partition"], inside["offset"]) == ("r-1", 3, 42)
    assert inside["msg"] == "dead-lettered"


def test_every_metric_name_recorded_in_the_code_is_in_the_catalogue() -> None:
    call = re.compile(r'\.(?:count|counter|observe|observer|gauge|timed)\(\s*"(\w+)"')
    errors = re.compile(r'\.timed\(\s*"\w+",\s*errors="(\w+)"')
    used: set[str] = set()
    for folder in ("linguaflow", "streams", "sinks"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            text = path.read_text()
            used |= set(call.findall(text)) | set(errors.findall(text))
    assert {"requests", "results", "provider_latency", "provider_errors", "consumer_lag"} <= used
    assert used - set(METRICS) == set()
