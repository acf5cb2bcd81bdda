"""The commands that read and change the data: the cache (``cache get``, ``dump``, ``evict``),
backfills (``replay``) and retention (``gc``). Those that change state show their plan unless
given ``--execute``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

from linguaflow.cli_config import add_execute
from linguaflow.settings import Settings


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def cmd_cache(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.inspect import cache_get

    entry = asyncio.run(cache_get(settings, args.key))
    if entry is None:
        print(f"no cache entry for {args.key}", file=sys.stderr)
        return 1
    print_json(entry)
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
    print_json(asyncio.run(evict(settings, selection, dry_run=not args.execute)))
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
    print_json(asyncio.run(run_replay(settings, options)))
    return 0


def cmd_gc(settings: Settings, args: argparse.Namespace) -> int:
    from linguaflow.gc import collect_garbage

    report = collect_garbage(
        settings, retention_days=args.retention_days, dry_run=not args.execute, now_ms=time.time() * 1000
    )
    print_json(asyncio.run(report))
    return 0


def add_cache_parser(sub: Any) -> None:
    cache = sub.add_parser("cache", help="cache commands")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    get = cache_sub.add_parser("get", help="print the cache entry for a cache key")
    get.add_argument("key")
    get.set_defaults(fn=cmd_cache)
    cache_sub.add_parser(
        "dump", help="print the live cache entries as JSON lines (tombstoned keys left out)"
    ).set_defaults(fn=cmd_cache_dump)
    evict = cache_sub.add_parser("evict", help="tombstone the entries that match every criterion given")
    evict.add_argument("--key", action="append", help="a cache key (repeatable)")
    evict.add_argument("--tenant", help="entries created for this tenant")
    evict.add_argument("--provider", help="entries this provider translated")
    evict.add_argument("--glossary", help="entries made with this glossary version (id@version)")
    evict.add_argument("--expired", action="store_true", help="entries past their TTL")
    add_execute(evict, "tombstone them")
    evict.set_defaults(fn=cmd_cache_evict)


def add_backfill_parser(sub: Any) -> None:
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
