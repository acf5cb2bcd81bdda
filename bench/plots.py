"""PNG plots of a report (matplotlib, headless), one small function per plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report_runs import paced_runs


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name)
    plt.close(fig)
    return name


def _axes(title: str) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_title(title)
    return fig, ax


def _throughput(report: dict[str, Any], out: Path) -> str:
    runs, raw = report["end_to_end"]["runs"], report["raw"]["pass_through"]["msg_per_s"]
    fig, ax = _axes("Throughput per run vs raw pass-through")
    ax.bar(list(runs), [r["requests_per_s"] for r in runs.values()], label="end to end (req/s)")
    ax.axhline(raw, color="tab:red", ls="--", label="raw pass-through (msg/s)")
    ax.axhline(raw / 2, color="tab:orange", ls=":", label="target: 50 % of pass-through")
    ax.set_yscale("log")
    ax.set_ylabel("per second")
    ax.legend()
    return _save(fig, out, "throughput.png")


def _provider_calls(report: dict[str, Any], out: Path) -> str:
    runs = report["end_to_end"]["runs"]
    fig, ax = _axes("Provider texts vs unique keys per 1,000 requests")
    xs = list(range(len(runs)))
    texts = [r["provider_texts_per_1000"] for r in runs.values()]
    keys = [r["unique_keys_per_1000"] for r in runs.values()]
    ax.bar([x - 0.2 for x in xs], texts, 0.4, label="provider texts / 1k")
    ax.bar([x + 0.2 for x in xs], keys, 0.4, label="unique keys / 1k")
    ax.set_xticks(xs, list(runs))
    ax.legend()
    return _save(fig, out, "provider_calls.png")


def _latency(report: dict[str, Any], out: Path) -> str:
    runs = report["end_to_end"]["runs"]
    fig, ax = _axes("Latency per run (produce -> result)")
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        ax.plot(list(runs), [r[q] or 0 for r in runs.values()], marker="o", label=q)
    ax.axhline(50, color="tab:red", ls=":", label="50 ms")
    ax.set_yscale("symlog")
    ax.set_ylabel("ms")
    ax.legend()
    return _save(fig, out, "latency.png")


def _rss(report: dict[str, Any], out: Path) -> str:
    runs, samples = report["end_to_end"]["runs"], report["end_to_end"]["process"]
    fig, ax = _axes("Worker RSS over the end-to-end runs")
    ax.plot([s[0] for s in samples], [s[1] for s in samples], color="tab:green", label="RSS")
    use = report["end_to_end"].get("rocksdb_cache_mib") or []
    if use:  # CACHE_STORE=disk: how much of the RSS is RocksDB's budget filling
        ax.plot(
            [u[0] for u in use], [u[1] for u in use], color="tab:orange", label="RocksDB's use of its budget"
        )
        ax.legend(loc="lower right")
    top = max((s[1] for s in samples), default=1)
    for name, run in runs.items():
        ax.axvline(run["window_s"][0], color="grey", lw=0.5)
        ax.text(run["window_s"][0], top, name, fontsize=7, rotation=90, va="top")
    ax.set_xlabel("s since the worker was ready")
    ax.set_ylabel("MiB")
    return _save(fig, out, "rss.png")


def _paced_latency(report: dict[str, Any], out: Path) -> str:
    paced = report["end_to_end"]["runs"]["warm_paced"]
    points = paced.get("latency_over_time") or []
    fig, ax = _axes(f"Cache hits paced at {paced['paced_rate_per_s'] or 0:.0f}/s: latency over time")
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=2)
    ax.axhline(50, color="tab:red", ls=":", label="50 ms")
    ax.set_yscale("symlog")
    ax.set_xlabel("s since the first request of the paced run")
    ax.set_ylabel("ms (produce -> result)")
    ax.legend(loc="upper left")
    steal = ax.twinx()  # CPU the host took from the machine: the slow stretches line up with it
    series = paced["steal_over_time"]
    steal.plot([p[0] for p in series], [p[1] for p in series], color="tab:orange", lw=1, label="cores stolen")
    steal.set_ylim(0, report["environment"]["cpus"])  # all of the machine's cores at most
    steal.set_ylabel("cores stolen by the host")
    steal.legend(loc="upper right")
    return _save(fig, out, "paced_latency.png")


def _paced_rates(report: dict[str, Any], out: Path) -> str:
    paced = paced_runs(report["end_to_end"]["runs"])
    fig, ax = _axes("Cache-hit latency by load (the warm load paced)")
    rates = [r["requests_per_s"] for r in paced]
    for column, style in (("p50_ms", "o-"), ("p95_ms", "s-"), ("p99_ms", "^-")):
        ax.plot(rates, [r[column] or 0 for r in paced], style, label=column.removesuffix("_ms"))
    ax.axhline(50, color="tab:red", ls=":", label="50 ms")
    ax.set_xlabel("requests/s (all cache hits)")
    ax.set_ylabel("ms (produce -> result)")
    ax.legend()
    return _save(fig, out, "paced_rates.png")


def write_plots(report: dict[str, Any], out: Path) -> list[str]:
    return [
        plot(report, out)
        for plot in (_throughput, _provider_calls, _latency, _rss, _paced_latency, _paced_rates)
    ]
