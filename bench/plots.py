"""PNG plots of a report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def write_plots(report: dict[str, Any], out: Path) -> list[str]:
    runs = report["end_to_end"]["runs"]
    raw = report["raw"]
    names = list(runs)
    written = []

    fig, ax = plt.subplots(figsize=(8, 4))
    rates = [runs[n]["requests_per_s"] for n in names]
    ax.bar(names, rates, color="tab:blue", label="end to end (req/s)")
    ax.axhline(raw["pass_through"]["msg_per_s"], color="tab:red", ls="--", label="raw pass-through")
    ax.axhline(raw["pass_through"]["msg_per_s"] / 2, color="tab:orange", ls=":", label="target (50 %)")
    ax.set_ylabel("requests / s")
    ax.set_title("Throughput per run vs raw pass-through")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png")
    written.append("throughput.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.4
    xs = range(len(names))
    ax.bar(
        [x - width / 2 for x in xs],
        [runs[n]["provider_texts_per_1000"] for n in names],
        width,
        label="provider texts / 1k",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [runs[n]["unique_keys_per_1000"] for n in names],
        width,
        label="unique keys / 1k",
    )
    ax.set_xticks(list(xs), names)
    ax.set_title("Provider texts vs unique keys per 1,000 requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "provider_calls.png")
    written.append("provider_calls.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        ax.plot(names, [runs[n][q] or 0 for n in names], marker="o", label=q)
    ax.axhline(50, color="tab:red", ls=":", label="50 ms")
    ax.set_yscale("symlog")
    ax.set_ylabel("ms (produce -> result)")
    ax.set_title("Latency per run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png")
    written.append("latency.png")

    samples = report["end_to_end"]["process"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([s[0] for s in samples], [s[1] for s in samples], color="tab:green")
    for name in names:
        start, _ = runs[name]["window_s"]
        ax.axvline(start, color="grey", lw=0.5)
        ax.text(start, ax.get_ylim()[1], name, fontsize=7, rotation=90, va="top")
    ax.set_xlabel("s since the worker was ready")
    ax.set_ylabel("RSS MiB")
    ax.set_title("Worker RSS over the end-to-end runs")
    fig.tight_layout()
    fig.savefig(out / "rss.png")
    written.append("rss.png")
    plt.close("all")
    return written
