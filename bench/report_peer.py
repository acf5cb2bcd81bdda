"""The peer comparison's table (``bench/peer.py``): both systems' figures from one run."""

from __future__ import annotations

from typing import Any

from bench.fmt import num
from bench.stages import LINGUAFLOW_LAYERS, layers

PEER_NOTE = (
    "Each system drains the same pre-filled request topic (its own consumer group, topics and "
    "tables; the same broker and Postgres), one after the other, nothing else running. "
    "requests/s = the system's start to its last row in Postgres (start-up included); steady = "
    "from 10 % to 90 % of the rows. CPU per request: the system's processes, the broker's JVM, "
    "Postgres (postmaster and backends); machine = every core's busy time, the bench's own "
    "process included."
)


def peer_table(peer: dict[str, Any]) -> str:
    lines = [
        "| duplicates | system | requests/s (start to last row) | steady requests/s | first row s "
        "| CPU µs/request: own / broker / Postgres / total | machine CPU µs/request "
        "| translations / unique keys |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in peer.values():
        for system in ("linguaflow", "quix"):
            r = run[system]
            cpu = r["cpu_ms_per_request"]
            split = " / ".join(num(1000 * cpu[part], 0) for part in ("own", "broker", "postgres", "total"))
            lines.append(
                f"| {run['dup_ratio']:.0%} | {system} | {num(r['requests_per_s'], 0)} "
                f"| {num(r['steady_requests_per_s'], 0)} | {num(r['first_row_s'], 1)} | {split} "
                f"| {num(1000 * r['machine_cpu_ms_per_request'], 0)} "
                f"| {run['translations'][system]} / {run['unique_keys']} |"
            )
        lines.append(
            f"| {run['dup_ratio']:.0%} | **linguaflow / quix** | **{run['speedup']:.2f}x** | "
            f"| | CPU {run['cpu_ratio']:.2f}x | | |"
        )
    return "\n".join(lines)


def stages_table(peer: dict[str, Any]) -> str:
    """Each system's CPU split by stage (py-spy samples of its processes), in µs per request."""
    lines = []
    for run in peer.values():
        for system in ("linguaflow", "quix"):
            r = run[system]
            if not r.get("stages"):
                continue
            own_us = 1000 * r["cpu_ms_per_request"]["own"]
            lines.append(
                f"- {run['dup_ratio']:.0%} {system} ({own_us:.0f} µs/request): {_us(r['stages'], own_us)}"
            )
            if system == "linguaflow":
                lines.append(f"  - by layer: {_us(layers(r['stages'], LINGUAFLOW_LAYERS), own_us)}")
    return "\n".join(lines)


def _us(shares: dict[str, float], total_us: float) -> str:
    return ", ".join(f"{name} {share * total_us:.0f}" for name, share in shares.items())
