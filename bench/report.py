"""The report: targets (pure: measured numbers in, PASS/FAIL and ratios out) and report.md."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.fmt import num, ratio
from bench.report_peer import PEER_NOTE, peer_table
from bench.report_runs import paced_table, runs_table, steal_note
from bench.report_scale import cluster_table, scaling_note, scaling_table


@dataclass(frozen=True)
class Target:
    name: str
    rule: str
    measured: str
    ratio: float | None
    passed: bool


def peer_targets(peer: dict[str, Any]) -> list[Target]:
    """At each duplicate ratio: at least 1.5x the peer's requests/s, with less CPU per request
    summed over every process (ours, the broker, Postgres)."""
    targets = []
    for run in peer.values():
        lf, qx = run["linguaflow"], run["quix"]
        cpu = lf["cpu_ms_per_request"]["total"], qx["cpu_ms_per_request"]["total"]
        targets.append(
            Target(
                f"vs the Quix Streams build at {run['dup_ratio']:.0%} duplicates",
                ">= 1.5x its req/s, less CPU/request",
                f"{lf['requests_per_s']:.0f} vs {qx['requests_per_s']:.0f} req/s; "
                f"{1000 * cpu[0]:.0f} vs {1000 * cpu[1]:.0f} µs CPU/request",
                run["speedup"],
                run["speedup"] >= 1.5 and cpu[0] < cpu[1],
            )
        )
    return targets


def rss_drift(samples: list[list[float]]) -> float | None:
    """Peak RSS over the RSS at the first sample under load, minus 1 (0.07 = +7 %)."""
    if len(samples) < 2:
        return None
    return max(s[1] for s in samples) / samples[0][1] - 1


def rss_drift_settled(samples: list[list[float]], skip: float = 0.1) -> float | None:
    """``rss_drift`` from ``skip`` of the run's time on: growth once fixed-size buffers (a disk
    store's block cache, the heap after start-up) have filled."""
    if len(samples) < 2:
        return None
    since = samples[0][0] + skip * (samples[-1][0] - samples[0][0])
    return rss_drift([s for s in samples if s[0] >= since])


def evaluate(report: dict[str, Any]) -> list[Target]:
    raw, e2e, rec = report["raw"], report["end_to_end"], report["recovery"]
    runs = e2e["runs"]
    targets = []
    shape = raw["same_shape"]["msg_per_s"]
    drain = report["peer"]["peer90"]["linguaflow"]["from_first_row_per_s"]
    r = ratio(drain, shape)
    targets.append(
        Target(
            "end to end at 90 % duplicates (draining a filled topic) vs the pipeline's shape with "
            "nothing else",
            ">= 0.50",
            f"{drain or 0:.0f} req/s vs {shape:.0f} msg/s, both from the first record on",
            r,
            r is not None and r >= 0.5,
        )
    )
    targets += peer_targets(report["peer"])
    pg = raw["postgres"]
    r = ratio(pg["sink_rows_per_s"], pg["copy_rows_per_s"])
    targets.append(
        Target(
            "sink vs raw COPY",
            ">= 0.50",
            f"{pg['sink_rows_per_s']:.0f} vs {pg['copy_rows_per_s']:.0f} rows/s",
            r,
            r is not None and r >= 0.5,
        )
    )
    exact = [
        (name, run["provider_texts"], 0 if name.startswith("warm") else run["unique_keys"])
        for name, run in {**runs, **report.get("provider_models", {})}.items()
    ]
    wrong = [f"{n}: {texts} texts vs {keys} keys" for n, texts, keys in exact if texts != keys]
    targets.append(
        Target(
            "provider texts per 1,000 == unique keys per 1,000 (warm runs: 0)",
            "equal in every run",
            "; ".join(wrong) or f"equal in all {len(exact)} runs",
            None,
            not wrong,
        )
    )
    paced = runs["warm_paced"]
    targets.append(
        Target(
            "cache-hit p99 produce->result at half the warm maximum",
            "< 50 ms",
            f"p99 {paced['p99_ms']} ms at {paced['paced_rate_per_s']:.0f} req/s",
            ratio(paced["p99_ms"], 50),
            paced["p99_ms"] is not None and paced["p99_ms"] < 50,
        )
    )
    eps = rec["entries_per_s_net"]
    targets.append(
        Target(
            "cache recovery",
            ">= 100,000 entries/s",
            f"{rec['entries']} entries in {rec['recovery_s']:.2f} s (ready {rec['ready_full_s']:.2f} s "
            f"vs {rec['ready_empty_s']:.2f} s empty)",
            ratio(eps, 100_000),
            eps is not None and eps >= 100_000,
        )
    )
    drift, settled = rss_drift(e2e["process"]), rss_drift_settled(e2e["process"])
    store = report["environment"].get("cache_store", "memory")
    held = "every new key in memory" if store == "memory" else "entries in RocksDB, a fixed memory budget"
    targets.append(
        Target(
            f"worker RSS flat across the run (CACHE_STORE={store}: {held})",
            "from 10 % of the run on (start-up done, the budget filled), peak within +10 % of the "
            "first sample",
            "no samples"
            if settled is None
            else f"{settled:+.1%}" + ("" if drift is None else f" ({drift:+.1%} from the start)"),
            None if settled is None else 1 + settled,
            settled is not None and abs(settled) <= 0.10,
        )
    )
    start = runs["warm"]["window_s"][0]
    end = max(run["window_s"][1] for name, run in runs.items() if name.startswith("warm"))
    drift = rss_drift([s for s in e2e["process"] if start <= s[0] <= end])
    targets.append(
        Target(
            "worker RSS flat over the all-hit runs (no new keys: a leak check)",
            "peak within +10 % of the first sample",
            "no samples" if drift is None else f"{drift:+.1%}",
            None if drift is None else 1 + drift,
            drift is not None and abs(drift) <= 0.10,
        )
    )
    return targets


def targets_table(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | rule | measured | ratio | result |", "|---|---|---|---|---|"]
    for t in targets:
        ratio = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
        verdict = "PASS" if t["passed"] else "FAIL"
        lines.append(f"| {t['name']} | {t['rule']} | {t['measured']} | {ratio} | **{verdict}** |")
    return lines


def shape_note(raw: dict[str, Any], runs: dict[str, Any]) -> list[str]:
    """Where the end-to-end rate stands against a process doing only the pipeline's Kafka and
    Postgres work (``bench.raw.same_shape``): what is the transport's, what is linguaflow's."""
    shape, e2e = raw["same_shape"]["msg_per_s"], runs["dup90"]["requests_per_s"]
    passing = raw["pass_through"]["msg_per_s"]
    lines = [
        f"For scale: one process doing only the pipeline's Kafka and Postgres work (each request "
        f"consumed, produced on, consumed again and COPYed, no JSON) moves {num(shape)} msg/s, "
        f"{num(ratio(shape, passing), 2)} of the pass-through{_shape_cpu(raw)}; end to end at "
        f"90 % duplicates is {num(ratio(e2e, shape), 2)} of it.",
        "",
    ]
    drained = runs["dup90"].get("sink_rows_per_s")
    if drained is not None:
        # The baselines read a topic filled beforehand, with nothing else running; an end-to-end
        # run shares the cores with the load generator while it publishes.
        lines += [
            f"Measured as the baselines are (a backlog drained with the load generator idle: the "
            f"90 % run's rows/s once publishing had ended), end to end is {num(drained)} req/s, "
            f"{num(ratio(drained, passing), 2)} of the pass-through and "
            f"{num(ratio(drained, shape), 2)} of the same shape.",
            "",
        ]
    return lines


def _shape_cpu(raw: dict[str, Any]) -> str:
    us = raw["same_shape"].get("cpu_us_per_msg")  # older reports lack it
    return "" if us is None else f", with {num(us, 1)} µs of CPU per message"


def rocksdb_note(e2e: dict[str, Any]) -> list[str]:
    """How the disk store's RocksDB filled its memory budget over the runs, and the RSS once it
    had: what of the RSS growth is the budget filling and what is not. Nothing with the memory
    store (or a report from before the bench read it)."""
    use, budget, samples = e2e.get("rocksdb_cache_mib") or [], e2e.get("rocksdb_budget_mib"), e2e["process"]
    if not use or not budget or not samples:
        return []
    t0, t_end = samples[0][0], samples[-1][0]
    peak = max(u for _, u in use)
    text = f"RocksDB (`CACHE_STORE=disk`) used at most {peak:.0f} MiB of its {budget:.0f} MiB budget"
    full = next((t for t, u in use if u >= 0.95 * budget), None)
    if full is None:
        return [f"{text}; it never reached 95 % of it.", ""]
    drift = rss_drift([s for s in samples if s[0] >= full])
    share = (full - t0) / (t_end - t0) if t_end > t0 else 0.0
    return [
        f"{text}; it first reached 95 % of it {full - t0:.0f} s in ({share:.0%} of the run). The RSS "
        f"from then on: {'-' if drift is None else f'{drift:+.1%}'} (peak over the first sample from then).",
        "",
    ]


def restart_note(rec: dict[str, Any], store: str) -> str:
    """The warm restart: CACHE_STORE=disk reads on from the checkpoint of a clean stop."""
    if rec.get("restart_ready_s") is None:
        return f"CACHE_STORE={store}: every start reads the whole changelog, so a restart takes as long."
    return (
        f"Clean restart (CACHE_STORE={store}, the first start's directory and checkpoint): ready in "
        f"{rec['restart_ready_s']:.2f} s holding {num(rec['restart_entries_held'])} entries, vs "
        f"{rec['ready_full_s']:.2f} s for the first start's whole read and {rec['ready_empty_s']:.2f} s "
        "with an empty cache."
    )


def markdown(report: dict[str, Any]) -> str:
    env, raw, e2e, rec = report["environment"], report["raw"], report["end_to_end"], report["recovery"]
    pg = raw["postgres"]
    rss = [s[1] for s in e2e["process"]]
    lines = [
        f"# linguaflow benchmark {env['started_at']}",
        "",
        f"Mode `{env['mode']}`, cache store `{env.get('cache_store', 'memory')}`, {env['cpus']} CPUs, "
        f"Python {env['python']}, partitions {env['partitions']}, "
        f"message size {env['message_bytes']} B. Numbers are from one run on a shared machine: compare "
        "the ratios, not the absolute values.",
        "",
        "## Targets",
        "",
        *targets_table(report["targets"]),
        "",
        *shape_note(raw, e2e["runs"]),
        *steal_note(raw, e2e["runs"]),
        "## Raw baselines (same broker, same Postgres, same run)",
        "",
        "| baseline | rate |",
        "|---|---|",
        f"| aiokafka produce-only (acks=all, idempotent) | {num(raw['produce_only']['msg_per_s'])} msg/s |",
        f"| aiokafka consume -> produce pass-through | {num(raw['pass_through']['msg_per_s'])} msg/s |",
        "| the pipeline's shape, nothing else: consume -> produce, consume -> COPY, commit after write, "
        f"one process | {num(raw['same_shape']['msg_per_s'])} msg/s |",
        f"| asyncpg COPY ({pg['batch_rows']} rows/txn) | {num(pg['copy_rows_per_s'])} rows/s |",
        f"| asyncpg executemany INSERT | {num(pg['executemany_rows_per_s'])} rows/s |",
        "| PostgresResultSink.write (COPY of new rows + lookup, 2 tables) "
        f"| {num(pg['sink_rows_per_s'])} rows/s |",
        "",
        "## End to end (one worker: agents + sink, provider `pseudo`)",
        "",
        *runs_table(e2e["runs"]),
        "",
        f"Worker ready after {e2e['worker_ready_s']:.1f} s; RSS {min(rss, default=0):.0f}-"
        f"{max(rss, default=0):.0f} MiB over the runs; exit code {e2e['worker_exit_code']} after SIGTERM. "
        "req/s = first publish to last row in Postgres; latency = request `created_at` (stamped at "
        "publish) to result produced (`latency_ms` of each row).",
        "",
        *rocksdb_note(e2e),
        "## Cache-hit latency by load (the warm load paced; the target is at half)",
        "",
        *paced_table(e2e["runs"]),
        "",
        "## Provider latency models (fake APIs with a fixed delay per call, 90 % duplicates)",
        "",
        *runs_table(report["provider_models"]),
        "",
        "Batches are capped by the API (DeepL 50 texts, OpenAI-compatible 20) and by "
        "`LINGUAFLOW_PROVIDER_MAX_INFLIGHT_BATCHES` (8 concurrent calls per worker).",
        "",
        "## Scaling (90 % duplicates, one consumer group, fresh stack each)",
        "",
        *scaling_table(report["scaling"]),
        "",
        scaling_note(env["cpus"]),
        "",
        "## Three brokers (one host: the three nodes share its cores)",
        "",
        *cluster_table(raw, report["scaling"]["workers_1"], report["cluster"]),
        "",
        "## The peer: a Quix Streams build of the same pipeline (bench/quix_pipeline.py)",
        "",
        peer_table(report["peer"]),
        "",
        PEER_NOTE,
        "",
        "## Recovery",
        "",
        f"{rec['entries']:,} entries: ready in {rec['ready_full_s']:.2f} s vs {rec['ready_empty_s']:.2f} s "
        f"with an empty cache → {num(rec['entries_per_s_net'])} entries/s net "
        f"({num(rec['entries_per_s_gross'])} gross).",
        "",
        restart_note(rec, env.get("cache_store", "memory")),
        "",
        "## Not measured",
        "",
        *[f"- {item}" for item in report.get("not_measured", [])],
    ]
    if report.get("profile"):
        lines += ["", "## Profile (pyinstrument, worker of one end-to-end run)", "", report["profile"]]
    return "\n".join(lines) + "\n"


def as_dicts(targets: list[Target]) -> list[dict[str, Any]]:
    return [asdict(t) for t in targets]
