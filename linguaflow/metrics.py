"""The catalogue of metrics a worker exports. Prometheus names: ``linguaflow_<name>`` plus
``_total`` for counters and the unit (``_seconds``) for histograms in seconds.

Everything counted is per worker process since it started (counters restart at zero); sum over
workers with ``sum(rate(...))``. docs/operations.md lists the same metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
ROWS = (1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    kind: Literal["counter", "histogram", "gauge"]
    help: str
    unit: str = ""
    buckets: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()


METRICS: dict[str, MetricSpec] = {
    "requests": MetricSpec("counter", "request events read from the requests topic, valid or not"),
    "requests_in": MetricSpec(
        "counter", "requests deduplicated: answered from the cache, coalesced or sent to a provider"
    ),
    "dedup_at_rekey": MetricSpec(
        "counter", "requests deduplicated by the rekey agent (key's partition on this worker, no hop)"
    ),
    "results": MetricSpec(
        "counter", "results produced, by outcome (hit, coalesced, miss)", labels=("outcome",)
    ),
    "provider_calls": MetricSpec(
        "counter", "provider calls (batches), retries included", labels=("provider",)
    ),
    "provider_texts": MetricSpec("counter", "texts sent to the provider", labels=("provider",)),
    "provider_retries": MetricSpec("counter", "provider calls retried", labels=("reason",)),
    "provider_errors": MetricSpec("counter", "failed provider calls", labels=("provider", "reason")),
    "provider_latency": MetricSpec(
        "histogram", "duration of one provider call", "s", SECONDS, labels=("provider",)
    ),
    "billed_chars": MetricSpec("counter", "characters billed by providers", labels=("provider",)),
    "cost": MetricSpec("counter", "cost charged by providers (their currency)", labels=("provider",)),
    "e2e_latency": MetricSpec(
        "histogram", "request created_at to result produced", "s", SECONDS, labels=("outcome",)
    ),
    "dlq": MetricSpec("counter", "records sent to the DLQ", labels=("reason",)),
    "sink_rows": MetricSpec("counter", "result records written to Postgres and committed"),
    "sink_write_errors": MetricSpec("counter", "failed Postgres writes (the batch is retried)"),
    "sink_translations_changed": MetricSpec("counter", "translations rows inserted or updated"),
    "sink_requests_inserted": MetricSpec("counter", "translation_requests rows inserted"),
    "sink_flush": MetricSpec("histogram", "duration of one sink flush (write + commit)", "s", SECONDS),
    "sink_batch_rows": MetricSpec("histogram", "records per sink flush", "", ROWS),
    "consumer_lag": MetricSpec(
        "gauge",
        "end offset minus the consumer's position",
        labels=("group", "topic", "partition"),
    ),
    "provider_fallbacks": MetricSpec("counter", "batches handed to the next provider of a chain"),
    "provider_skipped": MetricSpec(
        "counter", "providers passed over (breaker open, throttled too long)", labels=("provider", "reason")
    ),
    "provider_throttled": MetricSpec("counter", "waits for a provider's token bucket", labels=("provider",)),
    "breaker_opened": MetricSpec("counter", "circuit breaker openings", labels=("provider",)),
    "all_providers_failing": MetricSpec("counter", "batches that every provider of the chain failed"),
    "user_rate_limited": MetricSpec(
        "counter",
        "requests over their user's rate limit: delayed (wait) or dead-lettered (dlq)",
        labels=("mode",),
    ),
    "input_gaps": MetricSpec(
        "counter", "jumps over input records fetched but not processed (read again from the first)"
    ),
    "input_holes": MetricSpec(
        "counter",
        "input offsets not in the log, committed past: retention (deleted before they were read) or"
        " log (transaction markers, aborted or compacted records)",
        labels=("reason",),
    ),
    "user_waiting": MetricSpec(
        "gauge", "requests delayed by the per-user limit now (USER_REQUESTS_PER_MIN, this worker's share)"
    ),
    "output_wait": MetricSpec(
        "gauge", "seconds the oldest output batch has waited for the broker's acknowledgement", unit="s"
    ),
    "cache_expired": MetricSpec("counter", "cache entries deleted (tombstoned) past their TTL"),
    "cache_evicted": MetricSpec(
        "counter", "cache keys dropped on an operator's tombstone (cache evict, gc)", labels=("source",)
    ),
    "cache_unreadable": MetricSpec("counter", "cache values the TTL sweep could not decode"),
}
