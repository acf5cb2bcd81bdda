"""The report's scaling and three-broker tables (pure: measured numbers in, Markdown lines out)."""

from __future__ import annotations

from typing import Any

from bench.fmt import num, ratio


def scaling_table(scaling: dict[str, Any]) -> list[str]:
    """One row per shape; req/s also against the first shape (one worker)."""
    lines = [
        "| workers | sink processes | partitions | event loop | req/s | vs 1 worker "
        "| CPU ms/req: ours / machine | cores busy | cores stolen | p50 / p99 ms | complete |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = next(iter(scaling.values()), {}).get("requests_per_s")
    for r in scaling.values():
        lines.append(
            f"| {r['workers']} | {r['sinks']} | {r['partitions']} | {r['event_loop']} "
            f"| {num(r['requests_per_s'])} | {num(ratio(r['requests_per_s'], base), 2)} "
            f"| {num(r['cpu_ms_per_request'], 3)} / {num(r['machine_cpu_ms_per_request'], 3)} "
            f"| {r['machine_busy']:.0%} | {num(r['stolen_cores'], 2)} "
            f"| {num(r['p50_ms'])} / {num(r['p99_ms'])} | {r['complete']} |"
        )
    return lines


def scaling_note(cpus: Any) -> str:
    return (
        "CPU ms/req over the run: ours is the workers' and sink processes', the machine's is every "
        "process's (broker, Postgres and load generator included). Cores busy: the share of the "
        f"machine's {cpus} cores in use; near 100 %, more processes have no core to run on, and the "
        "rate is capped at cores / the machine's CPU per request. Cores stolen: CPU the host gave "
        "to other guests while this machine's cores were ready to run (`bench.steal`)."
    )


def cluster_table(raw: dict[str, Any], single: dict[str, Any], cluster: dict[str, Any]) -> list[str]:
    """The single node against the three brokers: the raw baselines of the run's raw section and
    its cluster section, and one worker at 90 % duplicates (the scaling section's first shape,
    on a fresh stack like the cluster's)."""
    three = cluster["dup90"]
    head = f"three brokers (RF {cluster['replication_factor']}, min ISR {cluster['min_insync_replicas']})"
    pairs = [
        (
            "aiokafka produce-only, msg/s",
            raw["produce_only"]["msg_per_s"],
            cluster["produce_only"]["msg_per_s"],
        ),
        (
            "consume -> produce pass-through, msg/s",
            raw["pass_through"]["msg_per_s"],
            cluster["pass_through"]["msg_per_s"],
        ),
        ("end to end, 1 worker, 90 % duplicates, req/s", single["requests_per_s"], three["requests_per_s"]),
        (
            "end to end vs pass-through",
            ratio(single["requests_per_s"], raw["pass_through"]["msg_per_s"]),
            ratio(three["requests_per_s"], cluster["pass_through"]["msg_per_s"]),
        ),
        ("CPU ms/req, ours", single["cpu_ms_per_request"], three["cpu_ms_per_request"]),
        (
            "CPU ms/req, whole machine",
            single["machine_cpu_ms_per_request"],
            three["machine_cpu_ms_per_request"],
        ),
    ]
    lines = [f"| measure | single node | {head} | three / single |", "|---|---|---|---|"]
    for name, one, many in pairs:
        digits = 0 if one is not None and one > 100 else 3
        lines.append(f"| {name} | {num(one, digits)} | {num(many, digits)} | {num(ratio(many, one), 2)} |")
    lines.append(f"| cores busy | {single['machine_busy']:.0%} | {three['machine_busy']:.0%} | - |")
    lines.append(f"| complete | {single['complete']} | {three['complete']} | - |")
    return lines
