"""``python -m bench run [--quick] [--tiny] [--requests N] [--only recovery]``: start a private
broker and Postgres, measure the raw baselines, the pipeline end to end and cache recovery, and
write ``bench/out/<timestamp>/report.json``, ``report.md`` and PNG plots. ``--only recovery``
measures cache recovery alone (``--repeat`` times) and writes ``report.json`` only. Everything
started is stopped."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.cluster import run_cluster
from bench.e2e import run_end_to_end
from bench.infra import Infra, keep_dir
from bench.load import run_requests
from bench.models import run_models
from bench.peer import run_peer
from bench.plots import write_plots
from bench.profile import render
from bench.raw import pass_through, postgres_writes, produce_only, same_shape
from bench.recovery import run_recovery
from bench.report import as_dicts, evaluate, markdown
from bench.report_peer import peer_table, stages_table
from bench.scaling import run_scaling
from bench.steal import metered
from linguaflow.settings import Settings

OUT = Path(__file__).resolve().parent / "out"
# (requests, raw messages, raw Postgres rows, recovery entries)
SIZES = {
    "full": (1_000_000, 1_000_000, 1_000_000, 1_000_000),
    "quick": (5_000, 50_000, 50_000, 200_000),
    "tiny": (300, 2_000, 2_000, 1_000),
}
# Requests per system and duplicate ratio in the comparison with the peer (bench/peer.py).
PEER_SIZES = {"full": 1_000_000, "quick": 100_000, "tiny": 2_000}
NOT_MEASURED = [
    "More than one machine: the broker (or the three of the cluster), Postgres, the workers and the "
    "load generator share this machine's cores, so every figure is one host's.",
    "Real provider APIs: the latency models are the tests' fake DeepL and OpenAI-compatible servers "
    "answering after a fixed delay.",
    "A Postgres server other than the embedded one, or one across a network.",
]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark and write a report")
    run.add_argument("--quick", action="store_true", help="~5,000 requests (minutes)")
    run.add_argument("--tiny", action="store_true", help="CI smoke size (< 2 minutes); implies --quick")
    run.add_argument("--requests", type=int, help="requests per end-to-end run (overrides the mode)")
    run.add_argument("--recovery-entries", type=int, help="cache entries for the recovery run")
    run.add_argument(
        "--only", choices=["recovery", "peer"], help="measure one section alone (report.json only)"
    )
    run.add_argument("--peer-requests", type=int, help="requests per system in the peer comparison")
    run.add_argument("--repeat", type=int, default=1, help="with --only: measure this many times")
    run.add_argument(
        "--profile",
        action="store_true",
        help="run the end-to-end worker under pyinstrument; with --only peer, sample both systems "
        "with py-spy for the CPU split by stage (slower)",
    )
    run.add_argument(
        "--cache-store",
        choices=["memory", "disk"],
        default=Settings.model_fields["cache_store"].default,
        help="the workers' CACHE_STORE (default: the product's)",
    )
    run.add_argument("--out", type=Path, default=OUT, help="parent folder of the report folder")
    return parser.parse_args(argv)


async def measure(
    infra: Infra, mode: str, sizes: tuple[int, int, int, int, int], profile_to: Path | None
) -> dict[str, Any]:
    requests, raw_n, pg_n, entries, peer_n = sizes
    raw_stack = await infra.stack("raw")
    sample = run_requests("raw", "raw", raw_n, 0.0)
    payloads = []
    for request in sample:
        request["created_at"] = int(time.time() * 1000)
        payloads.append(orjson.dumps(request))
    settings = raw_stack.settings
    print(f"raw baselines: {raw_n} messages, {pg_n} rows", flush=True)
    raw = {
        "produce_only": await metered(produce_only(settings, payloads)),
        "pass_through": await metered(pass_through(settings, raw_n)),
        "same_shape": await metered(same_shape(settings, raw_n)),
        "postgres": await metered(postgres_writes(settings, pg_n, settings.sink_batch_rows)),
    }
    # The peer right after the raw baselines: both drain a filled topic on a machine with nothing
    # else started yet (the three-node cluster, once started, stays up to the end).
    print("the peer", flush=True)
    peer = await run_peer(infra, peer_n)
    print("end to end", flush=True)
    e2e = await run_end_to_end(infra, requests, profile_to)
    print("provider latency models", flush=True)
    models = await run_models(infra, requests)
    print("scaling", flush=True)
    scaling = await run_scaling(infra, requests)
    print("three brokers", flush=True)
    cluster = await run_cluster(infra, requests, payloads)
    print("recovery", flush=True)
    recovery = await run_recovery(infra, entries)
    return {
        "environment": {
            **environment(
                infra,
                mode,
                requests_per_run=requests,
                raw_messages=raw_n,
                postgres_rows=pg_n,
                recovery_entries=entries,
                peer_requests=peer_n,
            ),
            "python": platform.python_version(),
            "partitions": settings.partitions,
            "message_bytes": round(sum(map(len, payloads)) / len(payloads)),
        },
        "raw": raw,
        "end_to_end": e2e,
        "provider_models": models,
        "scaling": scaling,
        "cluster": cluster,
        "recovery": recovery,
        "peer": peer,
        "not_measured": NOT_MEASURED,
    }


def environment(infra: Infra, mode: str, **sizes: int) -> dict[str, Any]:
    return {
        "mode": mode,
        "cache_store": infra.cache_store,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        **sizes,
    }


async def measure_recovery(infra: Infra, entries: int, repeat: int) -> dict[str, Any]:
    runs = []
    for i in range(repeat):
        print(f"recovery {i + 1}/{repeat}", flush=True)
        runs.append(await run_recovery(infra, entries))
    return {"environment": environment(infra, "recovery", recovery_entries=entries), "recovery_runs": runs}


def print_recovery(report: dict[str, Any]) -> None:
    for run in report["recovery_runs"]:
        print(
            f"{run['entries']:,} entries: ready {run['ready_full_s']:.2f} s vs {run['ready_empty_s']:.2f} s "
            f"empty, {run['entries_per_s_net'] or 0:,.0f} entries/s net"
        )
        if run["restart_ready_s"] is not None:
            print(f"  clean restart: ready {run['restart_ready_s']:.2f} s")


async def measure_peer(infra: Infra, requests: int, repeat: int, profile: bool) -> dict[str, Any]:
    runs = []
    for i in range(repeat):
        print(f"peer {i + 1}/{repeat}", flush=True)
        runs.append(await run_peer(infra, requests, profile=profile))
    env = environment(infra, "peer", peer_requests=requests)
    return {"environment": {**env, "profiled": profile}, "peer_runs": runs}


def print_peer(report: dict[str, Any]) -> None:
    for run in report["peer_runs"]:
        print(peer_table(run))
        print(stages_table(run))


def run_only(args: argparse.Namespace, out: Path, sizes: dict[str, int]) -> int:
    infra = Infra(args.cache_store)
    try:
        infra.start()
        if args.only == "recovery":
            report = asyncio.run(measure_recovery(infra, sizes["recovery"], args.repeat))
        else:
            report = asyncio.run(measure_peer(infra, sizes["peer"], args.repeat, args.profile))
    finally:
        keep_dir(infra.home, out / "logs")
        infra.close()
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (print_recovery if args.only == "recovery" else print_peer)(report)
    print(f"report: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    requests, raw_n, pg_n, entries = SIZES[mode]
    requests = args.requests or requests
    entries = args.recovery_entries or entries
    peer_n = args.peer_requests or PEER_SIZES[mode]
    out = args.out / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    if args.only:
        return run_only(args, out, {"recovery": entries, "peer": peer_n})
    started = time.monotonic()
    infra = Infra(args.cache_store)
    try:
        infra.start()
        profile_to = out / "profile.pyisession" if args.profile else None
        report = asyncio.run(measure(infra, mode, (requests, raw_n, pg_n, entries, peer_n), profile_to))
    finally:
        keep_dir(infra.home, out / "logs")
        infra.close()
    report["targets"] = as_dicts(evaluate(report))
    if args.profile:
        report["environment"]["profiled"] = True  # pyinstrument slows the worker: numbers are not comparable
        session = out / "profile.pyisession"
        report["profile"] = render(session, out) if session.exists() else "(pyinstrument wrote no session)"
    report["environment"]["wall_s"] = round(time.monotonic() - started, 1)
    report["plots"] = write_plots(report, out)
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (out / "report.md").write_text(markdown(report))
    print((out / "report.md").read_text())
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
