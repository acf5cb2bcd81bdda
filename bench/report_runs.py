"""The report's tables of end-to-end runs, of cache-hit latency by load, and the note on CPU the
host took from the machine during them (pure: measured numbers in, Markdown lines out)."""

from __future__ import annotations

from typing import Any

from bench.fmt import num


def runs_table(runs: dict[str, Any]) -> list[str]:
    lines = [
        "| run | requests | req/s | provider calls /1k | provider texts /1k | unique keys /1k "
        "| p50 / p95 / p99 ms | sink rows/s | CPU ms/req | cores stolen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {num(r['requests'])} | {num(r['requests_per_s'])} "
            f"| {num(r['provider_calls_per_1000'], 1)} | {num(r['provider_texts_per_1000'], 1)} "
            f"| {num(r['unique_keys_per_1000'], 1)} "
            f"| {num(r['p50_ms'])} / {num(r['p95_ms'])} / {num(r['p99_ms'])} "
            f"| {num(r['sink_rows_per_s'])} | {num(r['cpu_ms_per_request'], 2)} "
            f"| {num(r['stolen_cores'], 2)} |"
        )
    return lines


def paced_runs(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """The all-hit runs paced at a share of the warm run's rate, from the lightest load up."""
    return sorted((r for r in runs.values() if r["paced_rate_per_s"]), key=lambda r: r["paced_rate_per_s"])


def peak_steal(run: dict[str, Any]) -> float | None:
    """The most cores stolen between two samples (half a second) of a paced run."""
    return max((cores for _, cores in run["steal_over_time"]), default=None)


def paced_table(runs: dict[str, Any]) -> list[str]:
    """Cache-hit latency by load."""
    warm_max = runs["warm"]["requests_per_s"]
    lines = [
        "| share of the warm maximum | paced at req/s | achieved req/s | p50 / p95 / p99 / max ms "
        "| CPU ms/req | cores stolen: mean / peak |",
        "|---|---|---|---|---|---|",
    ]
    for r in paced_runs(runs):
        rate = r["paced_rate_per_s"]
        lines.append(
            f"| {rate / warm_max:.0%} | {num(rate)} | {num(r['requests_per_s'])} "
            f"| {num(r['p50_ms'])} / {num(r['p95_ms'])} / {num(r['p99_ms'])} / {num(r['max_ms'])} "
            f"| {num(r['cpu_ms_per_request'], 2)} | {num(r['stolen_cores'], 2)} / {num(peak_steal(r), 2)} |"
        )
    return lines


def steal_note(raw: dict[str, Any], runs: dict[str, Any]) -> list[str]:
    """How much CPU the host took during the windows the targets compare."""
    paced = runs["warm_paced"]
    return [
        "CPU the host took from this machine (`steal` in /proc/stat: its cores were ready to run "
        "while another guest ran), in cores on average over each window: "
        f"pass-through {num(raw['pass_through']['stolen_cores'], 2)}, "
        f"90 % run {num(runs['dup90']['stolen_cores'], 2)}, "
        f"paced run at half the maximum {num(paced['stolen_cores'], 2)} "
        f"(peak {num(peak_steal(paced), 2)} over half a second; its latency over time is in "
        "`paced_latency.png`). A window with steal ran on less than the machine's cores.",
        "",
    ]
